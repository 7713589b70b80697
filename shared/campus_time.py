"""Campus-local time rules: the check-in day and the pass deadline, in Asia/Shanghai.

The university's guide counts days in China Standard Time (UTC+8, no daylight saving):
a check-in at 23:59:59 and one at 00:00:00 local belong to different days, whatever
time zone the server itself runs in.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CAMPUS_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_CHECKIN_DEADLINE = time(12, 0)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError(f"datetime {instant!r} is naive; expected an aware datetime")


def local(instant: datetime) -> datetime:
    """The same instant expressed in Asia/Shanghai (for display and day boundaries)."""
    _require_aware(instant)
    return instant.astimezone(CAMPUS_TZ)


def checkin_day(instant: datetime) -> date:
    """The check-in day (Asia/Shanghai calendar date) that ``instant`` belongs to."""
    return local(instant).date()


def day_start(day: date) -> datetime:
    """00:00:00 Asia/Shanghai of ``day`` as an aware datetime."""
    return datetime.combine(day, time(0, 0), CAMPUS_TZ)


def next_checkin_deadline(instant: datetime, deadline: time = DEFAULT_CHECKIN_DEADLINE) -> datetime:
    """The next day's check-in deadline after ``instant``: ``deadline`` local on the following day.

    A pass issued at 23:00 on day D is valid until 12:00 on D+1 (with the default deadline),
    so nobody is locked out of their dormitory at midnight (docs/architecture.md §3).
    """
    following = checkin_day(instant) + timedelta(days=1)
    return datetime.combine(following, deadline, CAMPUS_TZ)


def parse_hhmm(text: str) -> time:
    """Parse ``"HH:MM"`` (00:00–23:59, or 24:00 meaning end of day as 23:59:59).

    Raises:
        ValueError: the text is not of that form.
    """
    try:
        hh_s, mm_s = text.split(":")
        hh, mm = int(hh_s), int(mm_s)
    except ValueError:
        raise ValueError(f"time {text!r} is not HH:MM") from None
    if (hh, mm) == (24, 0):
        return time(23, 59, 59)
    if not (0 <= hh <= 23 and 0 <= mm <= 59 and len(mm_s) == 2):
        raise ValueError(f"time {text!r} is not HH:MM between 00:00 and 24:00")
    return time(hh, mm)
