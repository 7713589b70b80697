"""Times typed by a person on a page: campus-local, in the forms people write them.

``2026-12-05 08:00``, ``2026-12-05T08:00`` (a browser's datetime-local), ``2026/12/5 8:00``,
a date alone (``2026-12-05``: the start of that day, or its end for an upper bound), full-width
digits and colons (``２０２６－１２－０５　０８：００``, as Chinese input methods type them),
an ISO 8601 instant with an offset, or Unix seconds. Local means Asia/Shanghai
(:data:`shared.campus_time.CAMPUS_TZ`), whatever the server's own time zone.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from shared.campus_time import CAMPUS_TZ

_LOCAL = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


class BadLocalTime(ValueError):
    """The text is no time this module reads (``code`` = ``bad_local_time``)."""

    code = "bad_local_time"


def parse_local_instant(text: str, *, end_of_day: bool = False) -> int | None:
    """Unix seconds of a typed time, or None for an empty field.

    Args:
        text: what was typed.
        end_of_day: a date without a time means the last second of that day (for "to" fields).

    Raises:
        BadLocalTime: not a time in any form above (the message shows the text and the form
            expected).
    """
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return None
    if t.isascii() and t.isdigit() and len(t) <= 11:
        return int(t)
    m = _LOCAL.match(t)
    try:
        if m:
            y, mo, d, h, mi, s = m.groups()
            when = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=CAMPUS_TZ)
            if end_of_day and h is None:
                when += timedelta(days=1, seconds=-1)
            return int(when.timestamp())
        parsed = datetime.fromisoformat(t)
        if parsed.tzinfo is not None:
            return int(parsed.timestamp())
    except (ValueError, OverflowError):
        pass
    raise BadLocalTime(f"{text[:40]!r} is not a time; expected e.g. 2026-12-05 08:00")
