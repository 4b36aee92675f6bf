"""Rows as a plain-text table that fits a terminal without ever breaking a value across lines.

Columns keep their order; each is as wide as its widest value. Columns that do not fit the width
are left out and named in a one-line note (the only line that may be wider than the terminal). When not even the first two columns fit side by side, the rows
are printed as blocks instead, one ``column: value`` line each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.cells import cell_len

GAP = "  "


@dataclass(frozen=True)
class TextTable:
    """Cells as text, row by row; ``numeric`` columns are right-aligned."""

    columns: list[str]
    rows: list[list[str]]
    numeric: set[str]

    def width_of(self, i: int) -> int:
        return max([cell_len(self.columns[i]), *(cell_len(r[i]) for r in self.rows)])


def cell(value: object, shorten: int | None = None) -> str:
    """A value as a table shows it: floats to 4 significant digits, nothing for null, at most
    ``shorten`` characters (cut with an ellipsis), line breaks as spaces."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        text = ""
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = " ".join(str(value).split())
    return text[: shorten - 1] + "…" if shorten and len(text) > shorten else text


def render(table: TextTable, width: int) -> list[str]:
    """The table's lines for a terminal ``width`` characters wide (see the module docstring)."""
    widths = [table.width_of(i) for i in range(len(table.columns))]
    kept, used = [], -len(GAP)
    for i, w in enumerate(widths):
        if used + len(GAP) + w <= width:
            kept.append(i)
            used += len(GAP) + w
    if len(kept) < min(2, len(widths)) or (widths and 0 not in kept):
        return _blocks(table)
    left_out = [table.columns[i] for i in range(len(widths)) if i not in kept]

    def line(cells: list[str]) -> str:
        return GAP.join(_pad(cells[i], widths[i], table.columns[i] in table.numeric) for i in kept).rstrip()

    lines = [line(table.columns), GAP.join("─" * widths[i] for i in kept), *(line(r) for r in table.rows)]
    if left_out:
        lines.append(f"(too wide, left out: {', '.join(left_out)})")
    return lines


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - cell_len(text))
    return fill + text if right else text + fill


def _blocks(table: TextTable) -> list[str]:
    """One block per row: ``column: value`` lines, a blank line between rows."""
    label = max(cell_len(c) for c in table.columns)
    lines: list[str] = []
    for r in table.rows:
        if lines:
            lines.append("")
        lines += [f"{_pad(c, label, False)}  {v}".rstrip() for c, v in zip(table.columns, r)]
    return lines
