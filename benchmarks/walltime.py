"""Wall time of whole commands against a bare ``python -c "import torch"``, measured together.

Shared by bench_cli.py and bench_sweep.py: the commands run interleaved (one of each per
round), so a machine that slows down mid-run slows every command alike, and the ratios to
``import torch`` stay comparable.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

IMPORT_TORCH = "python -c 'import torch'"
GRADCHECK = str(Path(sys.executable).with_name("gradcheck"))


def compare_to_import_torch(commands: dict[str, list[str]], repeats: int) -> None:
    """Time each command (and ``import torch``) ``repeats`` times; print medians and ratios."""
    commands = {IMPORT_TORCH: [sys.executable, "-c", "import torch"], **commands}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times[IMPORT_TORCH])
    width = max(map(len, commands))
    print(f"wall time, median of {repeats} interleaved repeats:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<{width}}  {median:6.3f} s  {median / base:5.2f}× import torch")
