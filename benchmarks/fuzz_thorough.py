"""The fuzz suite's thorough profile (issue 15.8): thousands of examples per test.

Run: ``python benchmarks/fuzz_thorough.py [--minutes M] [pytest args…]``. CI runs
tests/test_fuzz.py under the seeded "ci" profile (60 examples per test); this runs the same tests
under "thorough" (2000 examples per test, random seeds) and prints pytest's summary with the
wall time. ``--minutes M`` repeats such rounds, each with fresh random seeds, until M minutes
have passed (a "30-minute hostile run": ``--minutes 30``), and stops at the first failing
round. Each round's peak RSS is printed: every example runs in the one pytest process, so it
bounds the worst example's memory (an example over the budget shows there, as a sweep of
81-million-parameter cases did). Any failure prints hypothesis's minimal example and its
reproduction blob.

Memory per example (issue 15: none may exceed its estimate by more than 25%): the tests log
every example whose peak grew by more than 1 GiB in-process (``GRADCHECK_FUZZ_MEMORY_LOG``);
after each round the largest few are run again alone, as ``gradcheck … --json`` with stdout to
/dev/null, and (peak − baseline) / estimate is printed as bench_memory.py does. A ratio over
1.25 fails the round. The estimate is gradcheck's own: ``NetSpec.working_bytes(rows)`` for run
and explain, one sweep case (``sweep.case_bytes``) or chunk plus what the sweep keeps for all
cases (``sweep.estimate_bytes``) for sweep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADCHECK = str(Path(sys.executable).with_name("gradcheck"))
RATIO_LIMIT = 1.25
REMEASURED = 4  # the largest examples of a round measured again alone


def option(args: list[str], name: str, default: str) -> str:
    """The last value given to ``name`` in ``args`` (click keeps the last)."""
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]
    return values[-1] if values else default


def estimate(args: list[str]) -> int:
    """gradcheck's own memory estimate for ``args`` (the fuzz suite's commands, batch ≤ a few
    rows; its files are tiny)."""
    from gradcheck.checks import sweep
    from gradcheck.core.spec import OUTPUT_BYTES, NetSpec, parse_layers

    spec = NetSpec(parse_layers(option(args, "--layers", "2,10,10,1")))
    if args[0] != "sweep":
        return spec.working_bytes(max(1, args.count("--x")))
    cases = int(option(args, "--cases", "1"))
    batch = int(option(args, "--batch-size", "1"))
    chunk = sweep.chunk_size(spec, batch, None)
    held = sweep.case_bytes(spec, batch) * min(chunk, cases)
    return held + OUTPUT_BYTES + sweep.estimate_bytes(spec, cases, batch)


def peak_rss(args: list[str]) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of ``gradcheck args`` alone, stdout to /dev/null."""
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen([GRADCHECK, *args], stdout=quiet, stderr=quiet)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


def remeasure(log: Path, baseline: int) -> bool:
    """Measure the round's largest logged examples alone; False if one is over the limit."""
    if not log.exists():
        print("  memory: no example grew by more than 1 GiB", flush=True)
        return True
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    log.unlink()
    seen: set[str] = set()
    ok = True
    for entry in sorted(entries, key=lambda e: -e["grew"]):
        args = entry["args"]
        key = json.dumps(args)
        if key in seen or len(seen) == REMEASURED:
            continue
        seen.add(key)
        paths = [a for a in args if "/" in a and not Path(a.split(":")[0]).exists()]
        if paths:
            print(f"  memory: not measured again (its files are gone): {args}")
            continue
        code, peak = peak_rss([*args, "--json"])
        need = estimate(args)
        ratio = (peak - baseline) / need
        ok &= ratio <= RATIO_LIMIT
        print(
            f"  memory: {' '.join(args)[:100]}: exit {code}, peak {peak / 2**30:.2f} GiB, "
            f"estimate {need / 2**30:.2f} GiB, ratio {ratio:.2f}"
            + ("" if ratio <= RATIO_LIMIT else f"  OVER {RATIO_LIMIT}"),
            flush=True,
        )
    return ok


def one_round(extra: list[str], log: Path) -> tuple[int, int]:
    """(pytest's exit code, its peak RSS in bytes): every example runs in that one process,
    so its peak bounds the memory of the worst example."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": "thorough", "GRADCHECK_FUZZ_MEMORY_LOG": str(log)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"]
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
    _, baseline = peak_rss(["run", "--x", "0.5", "0.5", "--json"])
    print(f"baseline (a one-row run alone): peak {baseline / 2**20:.0f} MiB", flush=True)
    log = Path(tempfile.mkdtemp()) / "memory.jsonl"
    while True:
        code, used = one_round(argv, log)
        peak = max(peak, used)
        rounds += 1
        print(f"round {rounds}: exit {code}, peak RSS {used / 2**30:.2f} GiB", flush=True)
        if not remeasure(log, baseline) and code == 0:
            code = 1
        elapsed = time.perf_counter() - start
        if code != 0 or elapsed >= 60 * minutes:
            break
    print(
        f"thorough fuzz: exit {code} after {rounds} round(s) in {elapsed:.0f} s; "
        f"peak RSS {peak / 2**30:.2f} GiB (the memory budget is 8 GiB)"
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
