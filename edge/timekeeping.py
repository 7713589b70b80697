"""Trusted time on a node without a battery clock (ARCHITECTURE §6).

The node keeps a persisted lower bound of trusted time (:attr:`NodeStore.time_floor_s`):
the newest server-signed time seen (documents, sync) and the time of the last logged scan.
A system clock earlier than that bound is not believed: the node then counts forward from the
bound with its monotonic clock, and every decision made so is flagged ``clock_trusted=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.clock import Clock, from_unix

#: Tolerance for the whole-second floor (a scan at 12:00:00.900 stores floor 12:00:00).
FLOOR_SLACK_S = 2.0


class HasTimeFloor(Protocol):
    """Something holding the persisted lower bound (the node store)."""

    @property
    def time_floor_s(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TrustedInstant:
    """A decision time.

    Attributes:
        at: the instant used for the decision (aware UTC), never earlier than the floor.
        mono_s: the monotonic clock reading at the same moment (seconds).
        trusted: False when the system clock was earlier than the floor and was not used.
    """

    at: datetime
    mono_s: float
    trusted: bool


class TrustedTime:
    """Combines the system clock with the persisted floor.

    Args:
        clock: wall and monotonic clock (``SystemClock`` or ``FakeClock``).
        floor: the store (its ``time_floor_s`` is read on every call, so sync raising it
            takes effect at once).
    """

    def __init__(self, clock: Clock, floor: HasTimeFloor) -> None:
        self._clock = clock
        self._floor = floor
        self._anchor_floor_s = float(floor.time_floor_s)
        self._anchor_mono_s = clock.monotonic()

    def now(self) -> TrustedInstant:
        """The current decision time (see the module docstring)."""
        wall = self._clock.now()
        mono = self._clock.monotonic()
        floor_s = float(self._floor.time_floor_s)
        if floor_s < self._anchor_floor_s:  # sync reset the bound: count on from the new one
            self._anchor_floor_s, self._anchor_mono_s = floor_s, mono
        if wall.timestamp() >= floor_s - FLOOR_SLACK_S:
            return TrustedInstant(wall, mono, True)
        counted_s = self._anchor_floor_s + max(0.0, mono - self._anchor_mono_s)
        return TrustedInstant(from_unix(max(floor_s, counted_s)), mono, False)

    def clock_trusted(self) -> bool:
        """True when the system clock is not earlier than the floor right now."""
        return self.now().trusted
