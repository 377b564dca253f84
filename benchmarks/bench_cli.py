"""(c) `gradcheck --help` and `gradcheck run` wall time vs `python -c "import torch"`.

Run: ``python benchmarks/bench_cli.py [--repeats 7]``. Whole processes, interleaved, median of
the repeats (the machine is shared); the ratio to bare ``import torch`` is what counts.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("gradcheck"))
COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "gradcheck --help": [EXE, "--help"],
    "gradcheck run --x 0.974 0.312": [EXE, "run", "--x", "0.974", "0.312"],
    "gradcheck run --x 0.974 0.312 --json": [EXE, "run", "--x", "0.974", "0.312", "--json"],
}


def main() -> None:
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 7
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c 'import torch'"])
    print(f"wall time, median of {repeats} interleaved repeats:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<40} {median:6.3f} s  {median / base:5.2f}× import torch")


if __name__ == "__main__":
    main()
