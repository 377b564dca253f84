"""``run --plot`` (and ``--detail``) at size, against the same ``run`` without them.

Run: ``python benchmarks/bench_plot_size.py`` (``--repeats N``, default 3).

Two networks, whole commands, interleaved (one of each per round, so a machine that slows down
mid-run slows every command alike):

1. 2→8×300→1 (300 hidden layers, 602 parameter tensors), ``--x 0.1 0.2``: before the summary
   panel, ``--plot`` took 86 s here and wrote a 1260 × 68340 px PNG.
2. 784→512→512→10, ``--loss cross_entropy --data mnist64.npz`` (669,706 parameters; 64
   synthetic MNIST-like rows, 80 % zero pixels, seeded; the same data as bench_oracle_size.py).

Reported: the median wall time of each command, its ratio to the plain ``run``, and the PNG's
size in pixels, read from its header.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEEP = ",".join(["2", *["8"] * 300, "1"])
MNIST = "784,512,512,10"


def mnist_like(path: Path, rows: int = 64, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 784))
    x[x < 0.8] = 0.0  # MNIST has ~80 % zero pixels
    np.savez(path, x=x, y=rng.integers(0, 10, rows))


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gradcheck", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,  # exit 1 (a failing check) is a result, not an error
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mnist_like(out / "mnist64.npz")
        nets = {
            "2→8×300→1 (602 tensors)": ["run", "--x", "0.1", "0.2", "--layers", DEEP],
            "784→512→512→10, batch 64": [
                *("run", "--layers", MNIST, "--loss", "cross_entropy"),
                *("--data", str(out / "mnist64.npz")),
            ],
        }
        for name, base in nets.items():
            png = out / "errors.png"
            cmds = {
                "run": base,
                "run --plot": [*base, "--plot", str(png)],
                "run --detail": [*base, "--detail"],
            }
            times: dict[str, list[float]] = {label: [] for label in cmds}
            for _ in range(repeats):
                for label, args in cmds.items():
                    times[label].append(seconds(args))
            plain = statistics.median(times["run"])
            width, height = png_size(png)
            print(f"{name}: wall time, median of {repeats} interleaved repeats")
            for label, values in times.items():
                median = statistics.median(values)
                print(f"  {label:14} {median:7.2f} s   {median / plain:5.2f}× run")
            print(f"  PNG: {width} × {height} px ({png.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
