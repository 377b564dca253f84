"""The fuzz suite's thorough profile (issue 15.8): thousands of examples per test.

Run: ``python benchmarks/fuzz_thorough.py [--minutes M] [pytest args…]``. CI runs
tests/test_fuzz.py under the seeded "ci" profile (60 examples per test); this runs the same tests
under "thorough" (2000 examples per test, random seeds) and prints pytest's summary with the
wall time. ``--minutes M`` repeats such rounds, each with fresh random seeds, until M minutes
have passed (a "30-minute hostile run": ``--minutes 30``), and stops at the first failing
round. Any failure prints hypothesis's minimal example and its reproduction blob.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_round(extra: list[str]) -> int:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "thorough"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"]
    return subprocess.run(
        [*args, "--hypothesis-show-statistics", *extra], cwd=ROOT, env=env
    ).returncode


def main() -> int:
    argv = sys.argv[1:]
    minutes = 0.0
    if "--minutes" in argv:
        at = argv.index("--minutes")
        minutes = float(argv[at + 1])
        del argv[at : at + 2]
    start = time.perf_counter()
    rounds = 0
    while True:
        code = one_round(argv)
        rounds += 1
        elapsed = time.perf_counter() - start
        if code != 0 or elapsed >= 60 * minutes:
            break
    print(f"thorough fuzz: exit {code} after {rounds} round(s) in {elapsed:.0f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
