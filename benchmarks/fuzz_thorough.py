"""The fuzz suite's thorough profile (issue 15.8): thousands of examples per test.

Run: ``python benchmarks/fuzz_thorough.py [pytest args…]``. CI runs tests/test_fuzz.py under the
seeded "ci" profile (60 examples per test); this runs the same tests under "thorough" (2000,
random seeds) and prints pytest's summary with the wall time. Any failure prints hypothesis's
minimal example and its reproduction blob.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "thorough"}
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_fuzz.py",
            "--hypothesis-show-statistics",
            *sys.argv[1:],
        ],
        cwd=ROOT,
        env=env,
    )
    print(f"thorough fuzz: exit {proc.returncode} in {time.perf_counter() - start:.0f} s")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
