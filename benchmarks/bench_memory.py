"""Peak memory of `gradcheck run` on big inputs against gradcheck's own estimate.

Run: ``python benchmarks/bench_memory.py [--rows 400000] [--layers 2,64,64,1]``.

Each case runs in a fresh process; its peak RSS comes from ``os.wait4`` (``ru_maxrss``). The
baseline is the peak of a one-row run (interpreter, numpy, torch, rich); the estimate is what
gradcheck checks before loading: ``NetSpec.working_bytes(batch)`` plus the input file's bytes
(held once while parsing). ``working_bytes`` counts one block of the ``--json`` document
(``spec.OUTPUT_BYTES``): it is written ``documents.BLOCK_ELEMENTS`` numbers at a time, so it
holds no more whatever the batch. Printed per case: peak, peak − baseline, estimate, and the ratio
(peak − baseline) / estimate, which must stay ≤ 1.25.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gradcheck.core.spec import NetSpec, parse_layers

GRADCHECK = str(Path(sys.executable).with_name("gradcheck"))


def peak_rss(args: list[str]) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of one process."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{args}: exit {proc.returncode}: {proc.stderr.read().decode()[-400:]}")
    return proc.returncode, usage.ru_maxrss * 1024


def main() -> None:
    argv = sys.argv
    rows = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 400_000
    layers = argv[argv.index("--layers") + 1] if "--layers" in argv else "2,64,64,1"
    spec = NetSpec(parse_layers(layers))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        x = rng.uniform(-1, 1, (rows, spec.n_in))
        y = rng.uniform(0, 1, (rows, spec.n_out))
        csv = Path(tmp) / "data.csv"
        np.savetxt(csv, np.hstack([x, y]), delimiter=",", fmt="%.17g")
        npz = Path(tmp) / "data.npz"
        np.savez(npz, x=x, y=y)
        _, base = peak_rss([GRADCHECK, "run", "--x", *["0.5"] * spec.n_in, "--layers", layers])
        print(f"baseline (one row): peak {base / 2**20:.0f} MiB")
        print(f"{'case':<22} {'peak':>9} {'−base':>9} {'estimate':>9} {'ratio':>6}")
        for name, path, extra in (
            ("csv", csv, []),
            ("npz", npz, []),
            ("csv --json", csv, ["--json"]),
            ("npz --json", npz, ["--json"]),
        ):
            args = [GRADCHECK, "run", "--data", str(path), "--layers", layers, *extra]
            _, peak = peak_rss(args)
            # working_bytes already counts one block of the --json document (OUTPUT_BYTES).
            estimate = spec.working_bytes(rows) + path.stat().st_size
            ratio = (peak - base) / estimate
            print(
                f"{name:<22} {peak / 2**20:>7.0f}Mi {(peak - base) / 2**20:>7.0f}Mi "
                f"{estimate / 2**20:>7.0f}Mi {ratio:>6.2f}"
            )


if __name__ == "__main__":
    main()
