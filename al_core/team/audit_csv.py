"""The audit log as CSV, for a spreadsheet: one format for the Team page's download and
``python -m al_core audit --csv``.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula, and the log holds text people and strangers typed (names,
reasons): such cells get a leading single quote (OWASP, CSV Injection). Every cell is
quoted; the file is UTF-8 with a byte-order mark, so spreadsheets read names in any
script; times are as stored (ISO 8601, UTC).
"""
from __future__ import annotations

import csv
import io

from al_core.types import AuditEntry

COLUMNS = ("id", "at", "actor", "action", "object_type", "object_id", "summary", "before",
           "after")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A value as a CSV cell a spreadsheet reads as text: None as empty, and a text that
    starts like a formula prefixed with a single quote."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def audit_csv(entries: list[AuditEntry]) -> bytes:
    """The rows as CSV bytes (a header, then one line per row, every cell quoted and
    formula-safe)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow([csv_cell(getattr(e, c)) for c in COLUMNS])
    return out.getvalue().encode("utf-8-sig")
