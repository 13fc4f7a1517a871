"""Plain-text tables for the terminal: columns measured in terminal cells (a CJK character takes two),
and on a terminal (or with `COLUMNS` set) the widest columns wrapped at spaces so a row fits its width;
a table too wide even so is shown a record at a time (`header  value` lines, as `psql`'s expanded mode)."""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Sequence

GAP = "  "
NARROWEST = 8  # a column is never wrapped narrower than this (or its own width)
LONGEST_WORD = 24  # a longer word (an id, an email) may be cut to fit


def cell_width(text: str) -> int:
    """Terminal cells: East Asian wide and fullwidth characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text
    )


def pad(text: str, width: int) -> str:
    return text + " " * (width - cell_width(text))


def available_width() -> int | None:
    """`COLUMNS` when set, else the terminal's width when stdout is one; None (no limit) in a pipe or a file."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _row_width(widths: list[int]) -> int:
    return sum(widths) + len(GAP) * (len(widths) - 1)


def fit(widths: list[int], limit: int | None, floors: list[int] | None = None) -> list[int]:
    """Each column's width so the row fits `limit`: the widest one narrowed first, none below its floor
    (by default `NARROWEST`)."""
    fitted = list(widths)
    if limit is None:
        return fitted
    lowest = floors or [min(width, NARROWEST) for width in widths]
    while _row_width(fitted) > limit:
        narrowable = [column for column in range(len(fitted)) if fitted[column] > lowest[column]]
        if not narrowable:
            break  # as narrow as it sensibly gets: the caller shows records instead
        fitted[max(narrowable, key=lambda column: fitted[column])] -= 1
    return fitted


def floor(column: list[str]) -> int:
    """A column is never narrower than its longest word (up to `LONGEST_WORD`), so words are not cut."""
    longest = max((cell_width(word) for text in column for word in text.split(" ")), default=0)
    return max(NARROWEST, min(longest, LONGEST_WORD))


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` cells, broken at spaces; a word longer than a line is cut."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if cell_width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if cell_width(line + char) > width:
                lines.append(line)
                line = ""
            line += char
    return [*lines, line]


def render(headers: Sequence[str], rows: Sequence[Sequence[object]], *, limit: int | None = None) -> str:
    cells = [[str(header) for header in headers]] + [
        ["" if value is None else str(value) for value in row] for row in rows
    ]
    natural = [max(cell_width(row[column]) for row in cells) for column in range(len(headers))]
    width = limit if limit is not None else available_width()
    floors = [min(natural[column], floor([row[column] for row in cells])) for column in range(len(headers))]
    widths = fit(natural, width, floors)
    if width is not None and _row_width(widths) > width:
        return _records(cells, width)
    lines = []
    for index, row in enumerate(cells):
        wrapped = [wrap(value, width) for value, width in zip(row, widths, strict=True)]
        for part in range(max(len(column) for column in wrapped)):
            texts = [column[part] if part < len(column) else "" for column in wrapped]
            lines.append(GAP.join(pad(text, width) for text, width in zip(texts, widths, strict=True)).rstrip())
        if index == 0:
            lines.append(GAP.join("-" * width for width in widths))
    return "\n".join(lines)


def _records(cells: list[list[str]], limit: int) -> str:
    """One block a row, one `header  value` line a column, values wrapped to what is left of the width."""
    headers, rows = cells[0], cells[1:]
    key = max(cell_width(header) for header in headers)
    room = max(limit - key - len(GAP), NARROWEST)
    blocks = []
    for row in rows:
        lines = []
        for header, value in zip(headers, row, strict=True):
            for index, part in enumerate(wrap(value, room)):
                lines.append((pad(header if index == 0 else "", key) + GAP + part).rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
