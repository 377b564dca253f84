"""Write the sample data sets, deterministically (run: ``python samples/make_data.py``).

- ``seed_data.csv``: 1200 rows for the seed's 2→10→10→1 network (the seed's Model mentions
  N=1200). Inputs x1, x2 uniform in [0, 1) like the seed's randomly drawn pair; the target is a
  smooth function of them plus a little noise, y = sin(2π·x1)·x2 + 0.05·ε.
- ``three_class.csv``: 300 rows, three Gaussian blobs in the plane, for a multi-class check with
  ``--loss cross_entropy`` (the last column is the class index 0, 1 or 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def seed_data(rng: np.random.Generator, n: int = 1200) -> np.ndarray:
    x = rng.uniform(0.0, 1.0, size=(n, 2))
    y = np.sin(2 * np.pi * x[:, 0]) * x[:, 1] + 0.05 * rng.standard_normal(n)
    return np.column_stack([x, y])


def three_class(rng: np.random.Generator, per_class: int = 100) -> np.ndarray:
    centres = np.array([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.2]])
    rows = [
        np.column_stack([c + 0.45 * rng.standard_normal((per_class, 2)), np.full(per_class, k)])
        for k, c in enumerate(centres)
    ]
    table = np.vstack(rows)
    return table[rng.permutation(len(table))]


def write(path: Path, header: str, table: np.ndarray, class_column: bool = False) -> None:
    lines = [header]
    for row in table:
        cells = [f"{v:.8f}" for v in row[:-1]]
        cells.append(str(int(row[-1])) if class_column else f"{row[-1]:.8f}")
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    rng = np.random.default_rng(1200)
    write(HERE / "seed_data.csv", "x1,x2,y", seed_data(rng))
    write(HERE / "three_class.csv", "x1,x2,class", three_class(rng), class_column=True)
    print("wrote samples/seed_data.csv and samples/three_class.csv")


if __name__ == "__main__":
    main()
