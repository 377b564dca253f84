"""Inputs and targets: from option values or a data file, validated against the network."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence

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


#: Where row ``i`` of a file's targets is, for a message (``data.csv:3: ``); empty: no file.
Place = Callable[[int], str]


def _nowhere(_row: int) -> str:
    return ""


def validate_target(
    spec: NetSpec, y: NDArray[np.generic], option: str, place: Place = _nowhere
) -> NDArray[np.generic]:
    """Check targets against the loss; class indices come back as ``(B,)`` int64. ``place``
    names where a bad row is (a file's line)."""
    values: NDArray[np.float64] = np.asarray(y, dtype=np.float64)
    _check_finite(values, option)
    if spec.loss_record.takes_classes:
        flat = values.reshape(-1)
        fractional = flat != np.round(flat)
        if np.any(fractional):
            at = place(int(np.argmax(fractional)))
            raise GradcheckError(
                f"{option}: {at}{spec.loss} needs integer class indices, got "
                f"{flat[fractional][0]:g}"
            )
        out_of_range = (flat < 0) | (flat >= spec.n_out)
        if np.any(out_of_range):
            at = place(int(np.argmax(out_of_range)))
            raise GradcheckError(
                f"{option}: {at}class index {flat[out_of_range][0]:g} is out of range for "
                f"{spec.n_out} output units (0 to {spec.n_out - 1})"
            )
        return flat.astype(np.int64)
    bounds = spec.loss_record.target_range
    if bounds is not None:
        low, high = bounds
        outside = (values < low) | (values > high)
        if np.any(outside):
            at = place(int(np.argwhere(outside)[0][0]))
            raise GradcheckError(
                f"{option}: {at}{spec.loss} needs targets in [{low:g}, {high:g}], "
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
        place: Place = lambda row: f"{file}: y[{row}]: "  # noqa: E731
    elif file.suffix in (".csv", ".txt") or file.stream:
        x, y, place = _load_csv(spec, file)
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
    return x, validate_target(spec, y.reshape(batch, width), "--data", place)


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
        bad = np.argwhere(~np.isfinite(arrays[key]))
        if bad.size:
            at = tuple(int(i) for i in bad[0])
            raise GradcheckError(
                f"--data: {file}: {key}[{', '.join(map(str, at))}] is "
                f"{arrays[key][at]}, not a finite float64"
            )
    return arrays["x"].astype(np.float64), arrays["y"].astype(np.float64)


#: Separators a CSV may use, in the order they are preferred when the first line has several
#: (``0,5;0,3`` is semicolon-separated with decimal commas, which are then named).
SEPARATORS = {b";": "semicolons", b",": "commas", b"\t": "tabs"}


def _separator(line: bytes) -> bytes | None:
    """The first line's separator: ``;``, ``,`` or a tab; None for columns separated by spaces
    (a single column is read as comma-separated)."""
    unquoted = re.sub(rb'"[^"]*"', b"", line)
    for separator in SEPARATORS:
        if separator in unquoted:
            return separator
    return None if len(unquoted.split()) > 1 else b","


def _separated(separator: bytes | None) -> str:
    """How the columns are told apart, for messages about a file that is not comma-separated."""
    if separator == b",":
        return ""
    return f" (separated by {SEPARATORS[separator] if separator else 'spaces'})"


def _load_csv(
    spec: NetSpec, file: InputFile
) -> tuple[NDArray[np.float64], NDArray[np.float64], Place]:
    """Parse a CSV with numpy's C reader, after checks that need no parsing.

    Columns are separated by commas, semicolons, tabs or spaces, as the first non-blank line
    shows. That line is a header only when none of its fields is a number; a line with some
    numeric and some other fields is a typo, named. Row counts are bounded by the line count
    before any array is allocated. Every message names the file and line (``data.csv:3:``).
    """
    decode_text(file, "--data")  # UTF-8 or exit 2 (the text itself is not kept)
    data = file.data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data:  # old Mac and Windows line ends: one form for every step below
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = _nonblank_lines(data, 2)
    if not lines:
        raise GradcheckError(f"--data: {file}: no data rows")
    separator = _separator(lines[0][1])
    if separator is not None:
        # One trailing separator (a spreadsheet's empty last column) is dropped from every
        # line alike.
        trailing = re.compile(rb"[ \t]*" + re.escape(separator) + rb"[ \t]*(?=\n|\Z)")
        if separator == b"\t":
            trailing = re.compile(rb"\t[ ]*(?=\n|\Z)")
        data = trailing.sub(b"", data)
        lines = _nonblank_lines(data, 2)
        if not lines:  # nothing but separators
            raise GradcheckError(f"--data: {file}: no data rows")
    first_no, first = lines[0]
    cells = _split(first, separator)
    numeric = [_is_number(c) for c in cells]
    header = not any(numeric)
    if not header and not all(numeric):
        column = numeric.index(False) + 1
        cell = cells[column - 1]
        why = _decimal_comma(cell, separator) or " (a header line has no numbers at all)"
        raise GradcheckError(
            f"--data: {file}:{first_no}: column {column}: {cell!r} is not a number{why}"
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
            delimiter=separator.decode() if separator is not None else None,
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
        _name_bad_cell(data, file, spec, width, separator)
        raise GradcheckError(f"--data: {file}: no data rows")
    if not np.all(np.isfinite(table)):
        _name_nonfinite(data, file, table, header, separator)

    def place(row: int) -> str:  # error paths only: the line of data row ``row``
        found = _line(data, separator, int(header) + row)
        return f"{file}:{found[0]}: " if found is not None else f"{file}: data row {row + 1}: "

    return table[:, : spec.n_in], table[:, spec.n_in :], place


def _nonblank_lines(data: bytes, count: int | None) -> list[tuple[int, bytes]]:
    """The first ``count`` (or all) non-blank lines with their 1-based numbers."""
    out: list[tuple[int, bytes]] = []
    start, number = 0, 0
    while start <= len(data) and (count is None or len(out) < count):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        number += 1
        line = data[start:end].strip()
        if line:
            out.append((number, line))
        start = end + 1
    return out


def _split(line: bytes, separator: bytes | None) -> list[str]:
    text = line.decode("utf-8", errors="replace")
    if separator is None:
        return text.split()
    try:
        return [c.strip() for c in next(csv.reader([text], delimiter=separator.decode()), [])]
    except csv.Error:
        return [c.strip() for c in text.split(separator.decode())]


def _is_number(cell: str) -> bool:
    """What numpy's CSV reader reads as a number (Python's float also takes ``1_0``)."""
    if "_" in cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _decimal_comma(cell: str, separator: bytes | None) -> str:
    if separator != b"," and _is_number(cell.replace(",", ".", 1)):
        return f" (a decimal comma? write {cell.replace(',', '.', 1)})"
    return ""


def _rows_of(data: bytes, separator: bytes | None) -> list[tuple[int, list[str]]]:
    """Every non-blank line's number and cells (error paths only)."""
    text = data.decode("utf-8")
    if separator is None:
        return [(n, line.decode().split()) for n, line in _nonblank_lines(data, None)]
    try:
        reader = csv.reader(io.StringIO(text), delimiter=separator.decode())
        rows = [(n, [c.strip() for c in row]) for n, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise GradcheckError(f"--data: not a readable CSV ({exc})") from None
    return [(n, cells) for n, cells in rows if any(cells)]


def _name_bad_cell(
    data: bytes, file: InputFile, spec: NetSpec, width: int, separator: bytes | None
) -> None:
    """Error path only: find the first line with a wrong column count or a non-number."""
    try:
        rows = _rows_of(data, separator)
    except GradcheckError as exc:
        raise GradcheckError(exc.cli_message.replace("--data:", f"--data: {file}:", 1)) from None
    header_done = False
    for line_no, cells in rows:
        if not header_done:
            header_done = True
            if not any(_is_number(c) for c in cells):
                continue
        if len(cells) != width:
            raise GradcheckError(
                f"--data: {file}:{line_no}: {len(cells)} column{_s(len(cells))}"
                f"{_separated(separator)}, expected {width} ({spec.n_in} input{_s(spec.n_in)} "
                f"+ {width - spec.n_in} target{_s(width - spec.n_in)})"
            )
        for column, cell in enumerate(cells, start=1):
            if not _is_number(cell):
                raise GradcheckError(
                    f"--data: {file}:{line_no}: column {column}: {cell!r} is not a number"
                    f"{_decimal_comma(cell, separator)}"
                )
    raise GradcheckError(
        f"--data: {file}: cannot be read as CSV rows of {width} numbers{_separated(separator)}"
    )


def _name_nonfinite(
    data: bytes, file: InputFile, table: NDArray[np.float64], header: bool, separator: bytes | None
) -> None:
    """Error path only: the file, line and column of the first NaN, infinity or number too
    large for a float64 (``1e400``)."""
    row, column = (int(i) for i in np.argwhere(~np.isfinite(table))[0])
    found = _line(data, separator, int(header) + row)
    if found is not None and column < len(found[1]):
        line_no, cells = found
        raise GradcheckError(
            f"--data: {file}:{line_no}: column {column + 1}: {cells[column]} is not a finite "
            "float64"
        )
    raise GradcheckError(  # a line the CSV module splits otherwise than numpy's reader
        f"--data: {file}: data row {row + 1}, column {column + 1}: {table[row, column]} is not "
        "a finite float64"
    )


def _line(data: bytes, separator: bytes | None, index: int) -> tuple[int, list[str]] | None:
    """The line number and cells of the ``index``-th non-blank row (0-based), if it exists."""
    try:
        rows = _rows_of(data, separator)
    except GradcheckError:
        return None
    return rows[index] if 0 <= index < len(rows) else None


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
