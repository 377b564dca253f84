"""Tables that fit the terminal: columns declared with a priority, folded least important first.

A table is a list of ``Column`` declarations and a list of rows. ``FittedTable`` builds the
rich ``Table`` when it is rendered, at the width it is given: if the full table is wider,
the columns give way in the order of their ``gives_way`` rank (1 first): a column with a
``folded`` cell switches to it (the torch name leaves the quantity cell), any other column is
dropped. Columns without a rank (the quantity, the errors, the verdict) always stay. The
caption then says what was left out and how wide the full table is. A new column (a per-tensor
norm error, a probe) is one more declaration with its rank; nothing counts indexes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

R = TypeVar("R")

Justify = Literal["left", "center", "right"]


#: Rows a table shows whole; a deeper network's (300 layers are 900 parameter and δ rows)
#: shows ``CUT_ROWS`` of them, those that matter, and its caption says what it left out.
MAX_ROWS = 60
CUT_ROWS = 40


def rows_that_matter(
    items: Sequence[R], failing: Callable[[R], bool], ratio: Callable[[R], float], what: str
) -> tuple[list[R], str | None]:
    """The rows shown, in their order, and the caption's line on the rest (None: all shown).

    All when there are at most ``MAX_ROWS``; else ``CUT_ROWS`` of them, failing ones first,
    then the largest ``ratio`` (NaN first). ``what`` names the rows in the line.
    """
    if len(items) <= MAX_ROWS:
        return list(items), None

    def key(item: R) -> tuple[bool, float]:
        r = ratio(item)
        return (not failing(item), -(float("inf") if r != r else r))

    ranked = sorted(range(len(items)), key=lambda i: key(items[i]))  # stable: order kept
    shown = sorted(ranked[:CUT_ROWS])
    rest = [items[i] for i in ranked[CUT_ROWS:]]
    n_failing = sum(map(failing, rest))
    others = (
        f"{n_failing} of them failing"
        if n_failing
        else f"all within tolerance, the largest error ratio {max(map(ratio, rest)):.2g}"
    )
    note = (
        f"rows: {len(shown)} of the {len(items)} {what} shown, failing ones first, then the "
        f"largest error ratios; the other {len(rest)} are {others}"
    )
    return [items[i] for i in shown], note


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: its header, its cell for a row, and when it gives way to a narrow terminal."""

    header: str
    cell: Callable[[R], Text | str]
    justify: Justify = "right"
    #: Order in which the column gives way when the table is too wide (1 first); None: never.
    gives_way: int | None = None
    #: What the caption calls the column when it gave way ("values at the worst element").
    what: str = ""
    #: A shorter cell used instead of dropping the column (the quantity without its torch name).
    folded: Callable[[R], Text | str] | None = None


@dataclass(frozen=True)
class Row(Generic[R]):
    item: R
    end_section: bool = False


@dataclass
class FittedTable(Generic[R]):
    """A rich table built at render time, at the width it is rendered at."""

    columns: Sequence[Column[R]]
    rows: Sequence[Row[R]]
    title: str | None = None
    caption: Text | None = None
    table_options: dict[str, Any] = field(default_factory=dict)

    def ranks(self) -> list[int]:
        return sorted({c.gives_way for c in self.columns if c.gives_way is not None})

    def build(self, level: int, compact: bool = False) -> tuple[Table, list[str]]:
        """The table with every column of rank ≤ ``level`` folded or dropped; what gave way.

        ``compact``: the last resort, without outer edges and with one space between columns.
        """
        gave_way = [
            c.what
            for c in sorted(self.columns, key=lambda c: c.gives_way or 0)
            if c.gives_way is not None and c.gives_way <= level and c.what
        ]
        gave_way = list(dict.fromkeys(gave_way))
        kept: list[tuple[Column[R], Callable[[R], Text | str]]] = []
        for column in self.columns:
            if column.gives_way is not None and column.gives_way <= level:
                if column.folded is None:
                    continue
                kept.append((column, column.folded))
            else:
                kept.append((column, column.cell))
        options = dict(self.table_options)
        if compact:
            options.update(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
        # A title may hold user text (file names): Text, never rich markup.
        title = Text(self.title) if self.title is not None else None
        table = Table(title=title, caption_justify="left", header_style="bold", **options)
        grid: list[list[Text]] = []
        for row in self.rows:
            cells = []
            for _, cell in kept:
                value = cell(row.item)
                text = value if isinstance(value, Text) else Text(value)
                text.no_wrap = True
                cells.append(text)
            grid.append(cells)
        for i, (column, _) in enumerate(kept):
            # Cells never wrap. In the compact table a header wider than its cells is
            # broken at its spaces, so the column is only as wide as its widest word or cell.
            header = column.header
            if compact:
                widest = max((cells[i].cell_len for cells in grid), default=1)
                header = "\n".join(textwrap.wrap(header, max(widest, 1), break_long_words=False))
            table.add_column(Text(header), justify=column.justify, no_wrap=True)
        for row, cells in zip(self.rows, grid, strict=True):
            table.add_row(*cells, end_section=row.end_section)
        return table, gave_way

    def fit(self, width: int, console: Console) -> Table:
        """The fullest table whose natural width fits ``width``; the caption says what gave way."""
        levels = [(0, False)] + [(rank, False) for rank in self.ranks()]
        levels.append((levels[-1][0], True))
        full_width = 0
        for level, compact in levels:
            table, gave_way = self.build(level, compact)
            natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
            if level == 0:
                full_width = natural
            if natural <= width:
                break
        caption = self.caption.copy() if self.caption is not None else Text()
        if gave_way:
            note = Text(
                f"folded to fit {width} columns (the full table needs {full_width}): "
                f"not shown: {', '.join(gave_way)}; --json has every value",
                style="dim",
            )
            caption = Text("\n").join([caption, note]) if caption.plain else note
        table.caption = caption if caption.plain else None
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.fit(options.max_width, console)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.fit(options.max_width, console))
