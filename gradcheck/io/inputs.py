"""Inputs and targets: from option values or a data file, validated against the network."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.errors import GradcheckError
from gradcheck.core.spec import COPIES_PER_ELEMENT, MEMORY_BUDGET, NetSpec
from gradcheck.io.files import Headers, InputFile, decode_text, load_npz, read_input

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


def max_batch(spec: NetSpec) -> int:
    """The most rows a check on ``spec`` can take within the memory budget."""
    per_row = COPIES_PER_ELEMENT * 8 * sum(spec.layers)
    return max(0, (MEMORY_BUDGET - spec.working_bytes(0)) // per_row)


# A CSV cell is at most this many bytes on average (``-1.2345678901234567e-308,`` is 25).
_CSV_BYTES_PER_CELL = 40


def load_data(
    spec: NetSpec, path: str, batch_axis: str = "first"
) -> tuple[NDArray[np.float64], NDArray[np.generic]]:
    """Read ``(x, y)`` from a CSV (first n_in columns inputs, the rest targets) or an ``.npz``.

    A CSV line is one example whatever ``batch_axis`` says; an ``.npz``'s arrays are read in
    ``batch_axis``: with ``last``, x is (n_in, batch) and y (n_out, batch), class indices
    (1, batch) or (batch,).

    ``path`` may be ``-`` (standard input) or a pipe (``<(…)``); without a file name the
    format is told by the bytes (a zip archive is an ``.npz``, anything else CSV). Sizes are
    checked against the memory budget before parsing: the file's bytes, the arrays an
    ``.npz`` declares, the rows a CSV can hold.
    """
    width = spec.n_in + _width(spec)
    rows = max_batch(spec)
    limit = rows * (width * _CSV_BYTES_PER_CELL + 2) + 2**20
    what = f"{rows:,} rows of {width} values (the most that fit in memory)"
    file = read_input(path, "--data", limit=limit, what=what)
    if file.suffix == ".npz" or (file.stream and file.is_zip):
        x, y = _load_npz(spec, file, limit=rows * width * 16 + 2**16)
        if batch_axis == "last":
            x, y = _examples_as_rows(spec, file, x, y)
    elif file.suffix in (".csv", ".txt") or file.stream:
        x, y = _load_csv(spec, file)
    else:
        raise GradcheckError(
            f"--data: {path}: unsupported file type {file.suffix or '(none)'!r}; "
            "expected .csv or .npz (arrays x and y)"
        )
    if x.ndim == 1:
        x = x.reshape(1, -1) if x.size == spec.n_in else x.reshape(-1, 1)
    if x.ndim != 2 or x.shape[1] != spec.n_in:
        hint = ""
        if x.ndim == 2 and x.shape[0] == spec.n_in:
            hint = ": your arrays look transposed: examples as columns? use --batch-axis last"
        raise GradcheckError(
            f"--data: {file}: x has shape {tuple(x.shape)}, expected (batch, {spec.n_in}){hint}"
        )
    batch = x.shape[0]
    if batch == 0:
        raise GradcheckError(f"--data: {file}: no rows")
    spec.check_memory(batch, "--data")
    _check_finite(x, "--data")
    width = _width(spec)
    if y.size != batch * width or (y.ndim == 2 and y.shape[0] != batch):
        raise GradcheckError(
            f"--data: {file}: y has shape {tuple(y.shape)}, expected ({batch}, {width}) "
            f"for {batch} row{_s(batch)} of x"
        )
    return x, validate_target(spec, y.reshape(batch, width), "--data")


def _examples_as_rows(
    spec: NetSpec, file: InputFile, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """An ``.npz``'s x (n_in, batch) and y (n_out, batch) as rows (``--batch-axis last``)."""
    if x.ndim == 1 and x.size == spec.n_in:
        x = x.reshape(-1, 1)  # one example
    if x.ndim != 2 or x.shape[0] != spec.n_in:
        hint = ""
        if x.ndim == 2 and x.shape[1] == spec.n_in:
            hint = ": your arrays look transposed: examples as rows? use --batch-axis first"
        raise GradcheckError(
            f"--data: {file}: x has shape {tuple(x.shape)}, expected ({spec.n_in}, batch) "
            f"with --batch-axis last{hint}"
        )
    batch = x.shape[1]
    width = _width(spec)
    if y.ndim == 2 and y.shape == (width, batch):
        y = y.T
    elif not (y.ndim == 1 and width == 1 and y.shape[0] == batch):
        raise GradcheckError(
            f"--data: {file}: y has shape {tuple(y.shape)}, expected ({width}, {batch}) "
            f"with --batch-axis last (one column per example of x)"
        )
    return x.T, y.reshape(batch, width)


def _width(spec: NetSpec) -> int:
    return 1 if spec.loss_record.takes_classes else spec.n_out


def _load_npz(
    spec: NetSpec, file: InputFile, *, limit: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    def check(headers: Headers) -> None:  # the rows x declares, before anything is read
        if "x" in headers:
            shape = headers["x"][0]
            size = math.prod(shape)
            rows = shape[0] if len(shape) == 2 else (1 if size == spec.n_in else size)
            spec.check_memory(max(1, rows), "--data")

    arrays = load_npz(file, "--data", limit=limit, check=check)
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


# One trailing comma (a spreadsheet's empty last column) is dropped from every line alike.
_TRAILING_COMMA = re.compile(rb"[ \t]*,[ \t]*(?=\r?\n|\Z)")


def _load_csv(spec: NetSpec, file: InputFile) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Parse a CSV with numpy's C reader, after checks that need no parsing.

    The first non-blank line is a header only when none of its fields is a number; a line
    with some numeric and some other fields is a typo, named. Row counts are bounded by the
    line count before any array is allocated.
    """
    decode_text(file, "--data")  # UTF-8 or exit 2 (the text itself is not kept)
    data = file.data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data:  # old Mac and Windows line ends: one form for every step below
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = _TRAILING_COMMA.sub(b"", data)
    lines = _nonblank_lines(data, 2)
    if not lines:
        raise GradcheckError(f"--data: {file}: no data rows")
    first_no, first = lines[0]
    cells = _split(first)
    numeric = [_is_number(c) for c in cells]
    header = not any(numeric)
    if not header and not all(numeric):
        column = numeric.index(False) + 1
        raise GradcheckError(
            f"--data: {file}: line {first_no}, column {column}: {cells[column - 1]!r} is not a "
            "number (a header line has no numbers at all)"
        )
    if header and len(lines) < 2:
        raise GradcheckError(f"--data: {file}: no data rows (only the header line)")
    lines_at_most = data.count(b"\n") + 1
    spec.check_memory(max(1, lines_at_most - int(header)), "--data")
    width = spec.n_in + _width(spec)
    try:
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)
        table = np.loadtxt(
            text,
            delimiter=",",
            dtype=np.float64,
            ndmin=2,
            skiprows=first_no if header else 0,
            quotechar='"',
            comments=None,
        )
        bad = table.shape[1] != width
    except ValueError:
        bad, table = True, np.empty((0, width))
    if bad or table.shape[0] == 0:
        _name_bad_cell(data, file, spec, width)
        raise GradcheckError(f"--data: {file}: no data rows")
    return table[:, : spec.n_in], table[:, spec.n_in :]


def _nonblank_lines(data: bytes, count: int) -> list[tuple[int, bytes]]:
    """The first ``count`` non-blank lines with their 1-based numbers."""
    out: list[tuple[int, bytes]] = []
    start, number = 0, 0
    while start <= len(data) and len(out) < count:
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        number += 1
        line = data[start:end].strip()
        if line:
            out.append((number, line))
        start = end + 1
    return out


def _split(line: bytes) -> list[str]:
    text = line.decode("utf-8", errors="replace")
    try:
        return [c.strip() for c in next(csv.reader([text]), [])]
    except csv.Error:
        return [c.strip() for c in text.split(",")]


def _is_number(cell: str) -> bool:
    """What numpy's CSV reader reads as a number (Python's float also takes ``1_0``)."""
    if "_" in cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _name_bad_cell(data: bytes, file: InputFile, spec: NetSpec, width: int) -> None:
    """Error path only: find the first line with a wrong column count or a non-number."""
    text = data.decode("utf-8")
    header_done = False
    try:
        rows = list(enumerate(csv.reader(io.StringIO(text)), start=1))
    except csv.Error as exc:
        raise GradcheckError(f"--data: {file}: not a readable CSV ({exc})") from None
    for line_no, row in rows:
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if not header_done:
            header_done = True
            if not any(_is_number(c) for c in cells):
                continue
        if len(cells) != width:
            raise GradcheckError(
                f"--data: {file}: line {line_no} has {len(cells)} column{_s(len(cells))}, "
                f"expected {width} ({spec.n_in} input{_s(spec.n_in)} + {width - spec.n_in} "
                f"target{_s(width - spec.n_in)})"
            )
        for column, cell in enumerate(cells, start=1):
            if not _is_number(cell):
                raise GradcheckError(
                    f"--data: {file}: line {line_no}, column {column}: {cell!r} is not a number"
                )
    raise GradcheckError(f"--data: {file}: cannot be read as CSV rows of {width} numbers")


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
