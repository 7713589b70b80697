"""Time as an argument: the clock interface, the system clock and a fake clock for tests.

Inside campuspass every instant is an aware UTC :class:`datetime`; durations are seconds.
Only :class:`SystemClock` reads the real clock. Asia/Shanghai appears only at the edges,
through :mod:`shared.campus_time`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the time.

    ``now()`` is wall time (aware UTC datetime); ``monotonic()`` is seconds from an
    arbitrary origin that never goes backwards (for timeouts, relay pulses, repeat windows).
    """

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock of this machine (``time.time`` and ``time.monotonic``)."""

    def now(self) -> datetime:
        """Current wall time, aware UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never decreasing."""
        return time.monotonic()


class FakeClock:
    """A clock that tests advance by hand (after Trio's MockClock).

    Args:
        start: the initial wall time; must be timezone-aware.
        monotonic_start: the initial monotonic reading in seconds.

    Raises:
        ValueError: ``start`` is naive.
    """

    def __init__(self, start: datetime, monotonic_start: float = 1000.0) -> None:
        if start.tzinfo is None:
            raise ValueError(f"FakeClock start {start!r} is naive; expected an aware datetime")
        self._now = start.astimezone(UTC)
        self._mono = monotonic_start

    def now(self) -> datetime:
        """The fake wall time, aware UTC."""
        return self._now

    def monotonic(self) -> float:
        """The fake monotonic reading in seconds."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward by ``seconds`` (must be ≥ 0)."""
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by {seconds} s; expected ≥ 0")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set_wall(self, instant: datetime) -> None:
        """Set the wall time only (as a bad RTC or an NTP step would); monotonic is untouched."""
        if instant.tzinfo is None:
            raise ValueError(f"wall time {instant!r} is naive; expected an aware datetime")
        self._now = instant.astimezone(UTC)


def to_unix(instant: datetime) -> int:
    """Whole seconds since 1970-01-01T00:00:00Z for an aware datetime (floor)."""
    if instant.tzinfo is None:
        raise ValueError(f"datetime {instant!r} is naive; expected an aware datetime")
    return int(instant.timestamp() // 1)


def from_unix(seconds: int | float) -> datetime:
    """Aware UTC datetime for seconds since 1970-01-01T00:00:00Z."""
    return datetime.fromtimestamp(seconds, UTC)
