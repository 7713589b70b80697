"""Time as an argument: the clock interface, the system clock and a fake clock for tests.

Inside campuspass every instant is an aware UTC :class:`datetime`; durations are seconds.
Only :class:`SystemClock` reads the real clock and only it waits in real time: every periodic
job sleeps through its clock (:meth:`Clock.sleep`), so a test drives time with
:class:`FakeClock` by hand (the clock is the one place here that touches the event loop). Asia/Shanghai appears only at the edges,
through :mod:`shared.campus_time`.
"""

from __future__ import annotations

import asyncio
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

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's monotonic time."""
        ...


class SystemClock:
    """The real clock of this machine (``time.time`` and ``time.monotonic``)."""

    def now(self) -> datetime:
        """Current wall time, aware UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never decreasing."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time (``asyncio.sleep``)."""
        await asyncio.sleep(max(0.0, seconds))


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
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

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
        due = [(t, f) for t, f in self._sleepers if t <= self._mono]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._mono]
        for _t, future in sorted(due, key=lambda item: item[0]):
            if not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by ``seconds`` (monotonic) from now; a
        sleeper woken by :meth:`advance` runs at the waker's next await. ``seconds`` ≤ 0 only
        yields to the event loop once."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, future))
        try:
            await future
        finally:
            self._sleepers = [(t, f) for t, f in self._sleepers if f is not future]

    def sleepers(self) -> int:
        """How many tasks are waiting in :meth:`sleep` (for tests that wait for a job to park)."""
        return len(self._sleepers)

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
