"""Trusted time on a node without a battery clock (docs/decision.md, "Time on the node").

Two things bound the system clock:

- the persisted **floor** (:attr:`NodeStore.time_floor_s`): the newest server-signed time seen
  (documents, sync) and the time of scans judged on a *verified* clock. A system clock earlier
  than the floor is not believed: the node counts forward from the floor with its monotonic
  clock and flags every decision ``clock_trusted=False``.
- the **anchor** (:class:`TimeAnchor`): the server time of the last sync, with the monotonic
  time and the boot id at that moment. While the boot id is the same (monotonic time has not
  restarted), the true time is ``server_s + (mono − mono_s)`` give or take the drift allowance
  (:func:`drift_allowance_s`). A system clock outside that window, ahead *or* behind, is not
  believed: decisions use the anchor's estimate and are flagged.

Only a *verified* instant (the system clock agreed with an anchor of this boot) may raise the
persisted floor; an unverified clock (no sync yet since boot) is used for decisions when it is
not below the floor, but never moves the floor, so a clock stepped far ahead cannot lock a
building out after it is corrected. Server time at each sync moves the floor (down too, when a
floor was poisoned before these rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from shared.clock import Clock, from_unix

#: Tolerance for the whole-second floor (a scan at 12:00:00.900 stores floor 12:00:00).
FLOOR_SLACK_S = 2.0
#: How far the system clock may be from the anchor's estimate right after a sync (seconds):
#: the sync round trip and NTP's first corrections.
ANCHOR_SLACK_S = 60.0
#: Worst clock drift allowed for on top (parts per million): a Pi's crystal is within ±50 ppm;
#: 500 ppm is 43 s a day.
DRIFT_PPM = 500.0

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id(path: Path = BOOT_ID_PATH) -> str:
    """The kernel's boot id (a UUID, new at every boot), or ``""`` where there is none (not
    Linux): then no anchor survives a restart of the process."""
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def drift_allowance_s(elapsed_s: float) -> float:
    """How far (seconds) the system clock may be from the anchor's estimate ``elapsed_s``
    monotonic seconds after the sync: ``ANCHOR_SLACK_S + DRIFT_PPM`` of the elapsed time."""
    return ANCHOR_SLACK_S + abs(elapsed_s) * DRIFT_PPM / 1e6


@dataclass(frozen=True, slots=True)
class TimeAnchor:
    """The server time seen at a sync.

    Attributes:
        server_s: the server's time (Unix seconds).
        mono_s: the node's monotonic clock at that moment (seconds since boot).
        boot_id: the boot it was taken in (:func:`read_boot_id`).
    """

    server_s: float
    mono_s: float
    boot_id: str


class HasTimeFloor(Protocol):
    """Something holding the persisted lower bound and the anchor (the node store)."""

    @property
    def time_floor_s(self) -> int: ...

    @property
    def time_anchor(self) -> TimeAnchor | None: ...


@dataclass(frozen=True, slots=True)
class TrustedInstant:
    """A decision time.

    Attributes:
        at: the instant used for the decision (aware UTC), never earlier than the floor.
        mono_s: the monotonic clock reading at the same moment (seconds).
        trusted: False when the system clock was not used (below the floor, or outside the
            anchor's window); such decisions are flagged ``clock_trusted=False``.
        verified: True when the system clock agreed with a server anchor of this boot: only
            then may the decision raise the persisted floor.
    """

    at: datetime
    mono_s: float
    trusted: bool
    verified: bool = False


class TrustedTime:
    """Combines the system clock with the persisted floor and the anchor.

    Args:
        clock: wall and monotonic clock (``SystemClock`` or ``FakeClock``).
        floor: the store (its ``time_floor_s`` and ``time_anchor`` are read on every call, so
            sync moving them takes effect at once).
        boot_id: this boot's id (:func:`read_boot_id`); an anchor of another boot is ignored.
    """

    def __init__(self, clock: Clock, floor: HasTimeFloor, boot_id: str = "") -> None:
        self._clock = clock
        self._floor = floor
        self.boot_id = boot_id
        self._anchor_floor_s = float(floor.time_floor_s)
        self._anchor_mono_s = clock.monotonic()

    def anchor(self) -> TimeAnchor | None:
        """The store's anchor when it was taken in this boot, else None."""
        a = self._floor.time_anchor
        if a is None or not self.boot_id or a.boot_id != self.boot_id:
            return None
        return a

    def estimate_s(self, mono_s: float) -> float | None:
        """The anchor's estimate of the true time at ``mono_s`` (Unix seconds), or None."""
        a = self.anchor()
        return None if a is None else a.server_s + (mono_s - a.mono_s)

    def now(self) -> TrustedInstant:
        """The current decision time (see the module docstring)."""
        wall = self._clock.now()
        mono = self._clock.monotonic()
        floor_s = float(self._floor.time_floor_s)
        if floor_s < self._anchor_floor_s:  # sync reset the bound: count on from the new one
            self._anchor_floor_s, self._anchor_mono_s = floor_s, mono
        a = self.anchor()
        if a is not None:
            expected_s = a.server_s + (mono - a.mono_s)
            if abs(wall.timestamp() - expected_s) > drift_allowance_s(mono - a.mono_s):
                return TrustedInstant(from_unix(max(floor_s, expected_s)), mono, False)
            if wall.timestamp() >= floor_s - FLOOR_SLACK_S:
                return TrustedInstant(wall, mono, True, verified=True)
        elif wall.timestamp() >= floor_s - FLOOR_SLACK_S:
            return TrustedInstant(wall, mono, True)
        counted_s = self._anchor_floor_s + max(0.0, mono - self._anchor_mono_s)
        return TrustedInstant(from_unix(max(floor_s, counted_s)), mono, False)

    def clock_trusted(self) -> bool:
        """True when the system clock is used for decisions right now."""
        return self.now().trusted
