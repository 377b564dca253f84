"""The fuzz suite's thorough profile: thousands of examples per test.

Run: ``python benchmarks/fuzz_thorough.py [--minutes M] [pytest args…]``. CI runs
tests/cli/test_fuzz.py under the seeded "ci" profile (60 examples per test); this runs the
same tests under "thorough" (2000 examples per test, random seeds) and prints pytest's
summary with the wall time. ``--minutes M`` repeats such rounds, each with fresh random
seeds, until M minutes have passed (a "30-minute hostile run": ``--minutes 30``), and stops
at the first failing round. Each round's peak RSS is printed: every example runs in the one
pytest process, so it bounds the worst example's memory (an example over the budget shows
there, as a sweep of 81-million-parameter cases did). Any failure prints hypothesis's
minimal example and its reproduction blob.

Memory per example (none may exceed its estimate by more than 25%) is asserted by the tests
themselves: an example whose estimate is over 256 MiB runs alone in its own process
(``tests/cli/test_fuzz.check_outcome_alone``), and its (peak − a one-row run's peak) / estimate
must stay within 1.25. A refusal (exit 2) comes before any work, so quickly whatever the input
(a FIFO, a declared shape of 10**13, a 5000-digit size): each round prints its slowest refusal,
and the summary the slowest of the run against the target of 10 s. That is a time, measured
here rather than asserted by the tests, which must pass on a loaded machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFUSAL_TARGET = 10.0  # seconds


def one_round(extra: list[str], report: Path) -> tuple[int, int]:
    """(pytest's exit code, its peak RSS in bytes): every example runs in that one process,
    so its peak bounds the memory of the worst example (those run alone aside)."""
    env = {
        **os.environ,
        "HYPOTHESIS_PROFILE": "thorough",
        "GRADCHECK_FUZZ_MEMORY_REPORT": str(report),
    }
    fuzz = "tests/cli/test_fuzz.py"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", fuzz]
    proc = subprocess.Popen([*args, "--hypothesis-show-statistics", *extra], cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


def main() -> int:
    argv = sys.argv[1:]
    minutes = 0.0
    if "--minutes" in argv:
        at = argv.index("--minutes")
        minutes = float(argv[at + 1])
        del argv[at : at + 2]
    start = time.perf_counter()
    rounds = 0
    peak = 0
    report = Path(tempfile.mkdtemp()) / "alone.jsonl"
    alone: list[dict[str, Any]] = []
    slowest: dict[str, Any] = {"seconds": 0.0, "refusal": []}
    while True:
        code, used = one_round(argv, report)
        peak = max(peak, used)
        rounds += 1
        elapsed = time.perf_counter() - start
        print(f"round {rounds}: exit {code}, peak RSS {used / 2**30:.2f} GiB", flush=True)
        if report.exists():
            refusals = []
            for line in report.read_text().splitlines():
                entry = json.loads(line)
                if "refusal" in entry:
                    refusals.append(entry)
                    continue
                alone.append(entry)
                print(
                    f"  alone: {' '.join(entry['args'])[:90]}: exit {entry['exit']}, peak "
                    f"{entry['peak'] / 2**30:.2f} GiB, estimate {entry['estimate'] / 2**30:.2f} "
                    f"GiB, ratio {entry['ratio']:.2f}",
                    flush=True,
                )
            if refusals:
                worst = max(refusals, key=lambda e: e["seconds"])
                slowest = max(slowest, worst, key=lambda e: e["seconds"])
                print(
                    f"  {len(refusals)} refusals, the slowest {worst['seconds']:.2f} s: "
                    + " ".join(worst["refusal"])[:90],
                    flush=True,
                )
            report.unlink()
        if code != 0 or elapsed >= 60 * minutes:
            break
    print(
        f"thorough fuzz: exit {code} after {rounds} round(s) in {elapsed:.0f} s; "
        f"peak RSS {peak / 2**30:.2f} GiB (the memory budget is 8 GiB)"
    )
    if slowest["refusal"]:
        print(
            f"slowest refusal: {slowest['seconds']:.2f} s (target: within {REFUSAL_TARGET:.0f} "
            "s): " + " ".join(slowest["refusal"])[:120]
        )
    if alone:
        worst = max(alone, key=lambda e: e["ratio"])
        print(
            f"{len(alone)} example(s) ran alone with their memory measured; the largest "
            f"(peak − baseline) / estimate was {worst['ratio']:.2f} (limit 1.25): "
            + " ".join(worst["args"])[:120]
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
