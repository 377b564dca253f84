"""Inputs and targets: from option values or a data file, validated against the network."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import NetSpec
from gradcheck.io.files import load_npz, read_text, readable_file

DTYPE_LIMITS = {
    "float32": float(np.finfo(np.float32).max),
    "float64": float(np.finfo(np.float64).max),
}


def default_target(spec: NetSpec, batch: int) -> NDArray[np.generic]:
    """1.0 for every output unit, or class 0 for a loss over classes (cross_entropy)."""
    if spec.loss_record.takes_classes:
        return np.zeros(batch, dtype=np.int64)
    return np.ones((batch, spec.n_out), dtype=np.float64)


def parse_floats(text: str, option: str) -> list[float]:
    """Split ``"0.974 0.312"`` (spaces or commas) into floats, refusing NaN and ±inf."""
    parts = [p for p in text.replace(",", " ").split() if p]
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise GradcheckError(f"{option}: {part!r} is not a number") from None
        if not math.isfinite(value):
            raise GradcheckError(f"{option}: {part} is not a finite number")
        values.append(value)
    return values


def inputs_from_rows(spec: NetSpec, rows: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    """``--x`` rows into a ``(B, n_in)`` batch, each row checked against the input layer."""
    for i, row in enumerate(rows, start=1):
        if len(row) != spec.n_in:
            which = f" (row {i})" if len(rows) > 1 else ""
            raise GradcheckError(
                f"--x{which}: expected {spec.n_in} value{_s(spec.n_in)} (the first layer has "
                f"{spec.n_in} input{_s(spec.n_in)}), got {len(row)}"
            )
    spec.check_memory(len(rows), "--x")
    x = np.array(rows, dtype=np.float64).reshape(len(rows), spec.n_in)
    _check_finite(x, "--x")
    return x


def targets_from_rows(
    spec: NetSpec, rows: Sequence[Sequence[float]] | None, batch: int
) -> NDArray[np.generic]:
    """``--target`` rows (one per ``--x`` row) into the loss's target array."""
    if not rows:
        return default_target(spec, batch)
    if len(rows) != batch:
        raise GradcheckError(
            f"--target: given {len(rows)} time{_s(len(rows))} but --x is given {batch} "
            f"time{_s(batch)}; give one --target per --x row"
        )
    width = 1 if spec.loss_record.takes_classes else spec.n_out
    for i, row in enumerate(rows, start=1):
        if len(row) != width:
            which = f" (row {i})" if len(rows) > 1 else ""
            what = (
                "one class index"
                if spec.loss_record.takes_classes
                else f"{width} value{_s(width)} (the output layer has {width} unit{_s(width)})"
            )
            raise GradcheckError(f"--target{which}: expected {what}, got {len(row)}")
    y = np.array(rows, dtype=np.float64).reshape(batch, width)
    return validate_target(spec, y, "--target")


def validate_target(spec: NetSpec, y: NDArray[np.generic], option: str) -> NDArray[np.generic]:
    """Check targets against the loss; class indices come back as ``(B,)`` int64."""
    values: NDArray[np.float64] = np.asarray(y, dtype=np.float64)
    _check_finite(values, option)
    if spec.loss_record.takes_classes:
        flat = values.reshape(-1)
        fractional = flat != np.round(flat)
        if np.any(fractional):
            raise GradcheckError(
                f"{option}: {spec.loss} needs integer class indices, got {flat[fractional][0]:g}"
            )
        out_of_range = (flat < 0) | (flat >= spec.n_out)
        if np.any(out_of_range):
            raise GradcheckError(
                f"{option}: class index {flat[out_of_range][0]:g} is out of range for "
                f"{spec.n_out} output units (0 to {spec.n_out - 1})"
            )
        return flat.astype(np.int64)
    bounds = spec.loss_record.target_range
    if bounds is not None:
        low, high = bounds
        outside = (values < low) | (values > high)
        if np.any(outside):
            raise GradcheckError(
                f"{option}: {spec.loss} needs targets in [{low:g}, {high:g}], "
                f"got {values[outside][0]:g}"
            )
    return values


def load_data(spec: NetSpec, path: str) -> tuple[NDArray[np.float64], NDArray[np.generic]]:
    """Read ``(x, y)`` from a CSV (first n_in columns inputs, the rest targets) or an ``.npz``."""
    file = readable_file(path, "--data")
    if file.suffix.lower() == ".npz":
        x, y = _load_npz(file)
    elif file.suffix.lower() in (".csv", ".txt"):
        x, y = _load_csv(spec, file)
    else:
        raise GradcheckError(
            f"--data: {path}: unsupported file type {file.suffix or '(none)'!r}; "
            "expected .csv or .npz (arrays x and y)"
        )
    if x.ndim == 1:
        x = x.reshape(1, -1) if x.size == spec.n_in else x.reshape(-1, 1)
    if x.ndim != 2 or x.shape[1] != spec.n_in:
        raise GradcheckError(
            f"--data: {path}: x has shape {tuple(x.shape)}, expected (batch, {spec.n_in})"
        )
    batch = x.shape[0]
    if batch == 0:
        raise GradcheckError(f"--data: {path}: no rows")
    spec.check_memory(batch, "--data")
    _check_finite(x, "--data")
    width = 1 if spec.loss_record.takes_classes else spec.n_out
    if y.size != batch * width or (y.ndim == 2 and y.shape[0] != batch):
        raise GradcheckError(
            f"--data: {path}: y has shape {tuple(y.shape)}, expected ({batch}, {width}) "
            f"for {batch} row{_s(batch)} of x"
        )
    return x, validate_target(spec, y.reshape(batch, width), "--data")


def _load_npz(file: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    arrays = load_npz(file, "--data")
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise GradcheckError(
            f"--data: {file}: missing array{_s(len(missing))} {', '.join(sorted(missing))}"
            f" (found: {', '.join(arrays) or 'none'})"
        )
    for key in ("x", "y"):
        if arrays[key].dtype.kind not in "iuf":
            raise GradcheckError(
                f"--data: {file}: array {key} has dtype {arrays[key].dtype}; expected real numbers"
            )
    return arrays["x"].astype(np.float64), arrays["y"].astype(np.float64)


def _load_csv(spec: NetSpec, file: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    text = read_text(file, "--data")
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1) if row]
    if rows and not _is_numeric_row(rows[0][1]):
        rows = rows[1:]  # a header
    if not rows:
        raise GradcheckError(f"--data: {file}: no data rows")
    spec.check_memory(len(rows), "--data")
    width = spec.n_in + (1 if spec.loss_record.takes_classes else spec.n_out)
    for line, row in rows:
        if len(row) != width:
            raise GradcheckError(
                f"--data: {file}: line {line} has {len(row)} column{_s(len(row))}, expected "
                f"{width} ({spec.n_in} input{_s(spec.n_in)} + {width - spec.n_in} target"
                f"{_s(width - spec.n_in)})"
            )
    cells = np.array([row for _, row in rows], dtype=str)
    try:
        table = np.char.strip(cells).astype(np.float64)
    except ValueError:
        for line, row in rows:  # error path only: find the cell to name
            for column, cell in enumerate(row, start=1):
                try:
                    float(cell)
                except ValueError:
                    raise GradcheckError(
                        f"--data: {file}: line {line}, column {column}: {cell.strip()!r} is not "
                        "a number"
                    ) from None
        raise
    return table[:, : spec.n_in], table[:, spec.n_in :]


def _is_numeric_row(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _check_finite(values: NDArray[np.generic], option: str) -> None:
    bad = ~np.isfinite(values)
    if np.any(bad):
        raise GradcheckError(f"{option}: {values[bad][0]} is not a finite number")


def check_representable(values: NDArray[np.float64], dtype: str, option: str) -> None:
    """Refuse values that overflow the working dtype (1e300 in float32 becomes inf)."""
    limit = DTYPE_LIMITS[dtype]
    too_big = np.abs(values) > limit
    if np.any(too_big):
        raise GradcheckError(
            f"{option}: {values[too_big][0]:g} overflows {dtype} (largest is {limit:.4g})"
        )


def _s(n: int) -> str:
    return "" if n == 1 else "s"
