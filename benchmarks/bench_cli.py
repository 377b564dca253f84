"""(c) `gradcheck --help` and `gradcheck run` wall time vs `python -c "import torch"`.

Run: ``python benchmarks/bench_cli.py [--repeats 7]``. Whole processes, interleaved, median of
the repeats (the machine is shared); the ratio to bare ``import torch`` is what counts.
"""

from __future__ import annotations

import sys

from walltime import GRADCHECK, compare_to_import_torch

COMMANDS = {
    "gradcheck --help": [GRADCHECK, "--help"],
    "gradcheck run --x 0.974 0.312": [GRADCHECK, "run", "--x", "0.974", "0.312"],
    "gradcheck run --x 0.974 0.312 --json": [GRADCHECK, "run", "--x", "0.974", "0.312", "--json"],
}


def main() -> None:
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 7
    compare_to_import_torch(COMMANDS, repeats)


if __name__ == "__main__":
    main()
