"""CSV files a spreadsheet can open safely: no cell of ours starts a formula.

A CSV we write (an import's rejects, the overrides export, score_file's output) carries
customers' own text. Opened in Excel or LibreOffice, a cell such as
`=HYPERLINK("http://evil","x")`, `+cmd|' /C calc'!A0` or `@SUM(A1)` is evaluated as a
formula ("CSV injection", OWASP). Following OWASP's advice, `spreadsheet_safe` prefixes a
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return with a single quote,
which spreadsheets read as "this is text". Plain numbers (`-5`, `+3.2`, `-1e3`) are left
alone, so numeric columns stay numeric.

The escaping is reversible, so a file we wrote can be read back exactly (`unescape`): a
cell that already starts with quotes before such a character (`'=x`) gets one more quote
(`''=x`), and `unescape` removes exactly one quote from any cell that starts with quotes
followed by such a character. Readers of our own files (the CSV importer, `train_sentiment
--extra`, score_file) unescape every cell, so `unescape(spreadsheet_safe(v)) == v` for
every string v.

No Django here: any app, and any script, may use it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

# What a spreadsheet may take as the start of a formula (OWASP's list).
FORMULA_STARTS = "=+-@\t\r"
_ESCAPE_FIRST = frozenset(FORMULA_STARTS + "'")
_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")
# A plain decimal number, as a spreadsheet reads one; it is never a formula.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def spreadsheet_safe(value: object) -> str:
    """The cell as text a spreadsheet will not evaluate: `'` + value if it could start a
    formula (see the module docstring), else the value as `csv.writer` would write it
    (None is empty, anything else `str()`)."""
    text = "" if value is None else str(value)
    # The common case costs one set lookup: most cells cannot start a formula.
    if not text or text[0] not in _ESCAPE_FIRST:
        return text
    if _NEEDS_ESCAPE.match(text) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape(cell: str) -> str:
    """The value `spreadsheet_safe` was given: one leading `'` removed when quotes precede a
    formula character (`'=x` -> `=x`, `''=x` -> `'=x`); any other cell as it is."""
    if cell[:1] == "'" and _ESCAPED.match(cell):
        return cell[1:]
    return cell


class SafeWriter:
    """`csv.writer` whose every cell goes through `spreadsheet_safe`.

    Takes the same arguments as `csv.writer` (a file-like object with `write`, a dialect,
    format parameters).
    """

    def __init__(self, handle: Any, dialect: str | type[csv.Dialect] = "excel", **fmt: Any) -> None:
        self._writer = csv.writer(handle, dialect, **fmt)

    def writerow(self, row: Iterable[object]) -> Any:
        """Write one row; returns what the underlying writer returns."""
        return self._writer.writerow([spreadsheet_safe(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row."""
        for row in rows:
            self.writerow(row)


def safe_writer(handle: Any, dialect: str | type[csv.Dialect] = "excel", **fmt: Any) -> SafeWriter:
    """A `SafeWriter` on `handle`: use it wherever a CSV leaves the system."""
    return SafeWriter(handle, dialect, **fmt)
