"""CSV exports of the dashboards (issue 9; docs/dashboards.md).

Files are UTF-8 with a byte-order mark, so spreadsheet programs open Chinese text correctly,
with CRLF line ends (RFC 4180). National ID numbers are never exported (they are not even
stored); phone numbers are masked (``138****0000``) unless the exporting role needs them
(:data:`PHONE_ROLES`: counsellors call their students). Cells starting with ``= + - @`` are
prefixed with ``'`` so a spreadsheet never evaluates them as formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
PHONE_ROLES: tuple[str, ...] = ("counsellor",)
"""Roles that see full phone numbers in lists and exports."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678`` (all but the first 3 and last 4 digits hidden); "" for
    none; numbers shorter than 7 keep only their last 2 digits."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * (len(phone) - 2) + phone[-2:]


def phone_for(role: str, phone: str | None) -> str:
    """The phone number as ``role`` may see it (full for :data:`PHONE_ROLES`, else masked)."""
    return (phone or "") if role in PHONE_ROLES else mask_phone(phone)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file: BOM, ``header``, then ``rows`` (None as empty), UTF-8, CRLF."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return (BOM + buf.getvalue()).encode("utf-8")
