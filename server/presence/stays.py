"""Stays: who was inside which building when, rebuilt from accepted door scans (pure).

A **stay** is one person's continuous time inside one building. It is rebuilt from that
person's accepted scans *at that building only*, in time order (docs/tracing.md):

* **Entry-only building** (no exit node): each entry starts a stay of ``default_stay_ms``
  (the door cannot tell when people leave). Stays that overlap or touch merge.
* **Building with exit nodes**: an entry opens a stay; the first later exit closes it.
  A later entry while a stay is open closes it there and opens the next one (they touch and
  merge into one continuous stay, but the cut-off counts from the latest entry). An open
  stay with no exit within ``open_stay_ms`` of its last entry ends at entry + ``open_stay_ms``
  (the person never badged out). An exit with no open stay (tailgated in) is a stay of
  ``default_stay_ms`` before it, never overlapping the previous stay.
* A stay still open at ``now_ms`` ends at ``now_ms`` and is ``open`` (the person is inside).

Because each stay depends only on the scans since its own latest entry, the stays
overlapping ``[a, b]`` are, within ``[a, b]``, exactly those rebuilt from the scans in
``[a - open_stay_ms, b + default_stay_ms]`` (``[a - default_stay_ms, b]`` for an entry-only
building): an entry up to the cut-off before ``a`` may still be open at ``a``; a stay that is
open at ``b`` reaches ``b`` whatever scan later ends it, so later scans matter only as exits
with no entry, whose inferred stay reaches back ``default_stay_ms``. :func:`scan_window`
gives that window, which lets storage read one building's scans around a stay instead of a
person's whole history.

Only accepted scans count: a refused entry did not open the door. A refused exit is ignored
too, so a stay then lasts longer (tracing errs towards including a contact, never towards
missing one).

Times are Unix milliseconds (the scan time the server orders by).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["entry", "exit"]
Ending = Literal["exit", "default_stay", "cut_off", "open"]
Beginning = Literal["entry", "inferred"]

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class StayRules:
    """How stays are rebuilt (``[presence]`` in server.toml).

    Attributes:
        default_stay_ms: length of a stay after an entry at an entry-only building, and before
            an exit with no matching entry (milliseconds, > 0).
        open_stay_ms: longest an entry with no exit counts as inside (the never-badged-out
            cut-off, milliseconds, ≥ ``default_stay_ms``).

    Raises:
        ValueError: a length is not positive, or the cut-off is shorter than the default stay.
    """

    default_stay_ms: int
    open_stay_ms: int

    def __post_init__(self) -> None:
        if self.default_stay_ms <= 0:
            raise ValueError(f"default stay {self.default_stay_ms} ms; expected > 0")
        if self.open_stay_ms < self.default_stay_ms:
            raise ValueError(f"open-stay cut-off {self.open_stay_ms} ms is shorter than the default stay"
                             f" {self.default_stay_ms} ms; expected at least as long")


@dataclass(frozen=True, slots=True)
class Stay:
    """One continuous time inside one building.

    Attributes:
        building: building code.
        start_ms, end_ms: Unix milliseconds, ``start_ms <= end_ms``.
        began: ``entry`` (an entry scan) or ``inferred`` (an exit with no entry before it).
        ended: ``exit`` (an exit scan), ``default_stay`` (entry-only building, or inferred
            start), ``cut_off`` (never badged out) or ``open`` (still inside at ``now``).
    """

    building: str
    start_ms: int
    end_ms: int
    began: Beginning
    ended: Ending

    @property
    def minutes(self) -> float:
        """Length in minutes."""
        return (self.end_ms - self.start_ms) / MINUTE_MS


def scan_window(start_ms: int, end_ms: int, has_exit: bool, rules: StayRules) -> tuple[int, int]:
    """``(lo_ms, hi_ms)``: the scans of one building to read so that every stay overlapping
    ``[start_ms, end_ms]`` is rebuilt exactly within it (see the module docstring)."""
    if has_exit:
        return start_ms - rules.open_stay_ms, end_ms + rules.default_stay_ms
    return start_ms - rules.default_stay_ms, end_ms


def build_stays(
    building: str, scans: Iterable[tuple[int, str]], *, has_exit: bool, rules: StayRules, now_ms: int
) -> list[Stay]:
    """One person's stays at one building.

    Args:
        building: the building code (copied into each stay).
        scans: that person's accepted scans at that building, ``(at_ms, direction)`` in time
            order (ties in upload order); scans after ``now_ms`` are ignored.
        has_exit: the building has at least one exit node.
        rules: default stay and cut-off.
        now_ms: the present (open stays end here).

    Returns:
        Disjoint stays in time order (touching stays merged).
    """
    out: list[Stay] = []

    def emit(start: int, end: int, began: Beginning, ended: Ending) -> None:
        if out and start <= out[-1].end_ms:
            prev = out[-1]
            if end > prev.end_ms:
                out[-1] = Stay(building, prev.start_ms, end, prev.began, ended)
            return
        out.append(Stay(building, start, end, began, ended))

    if not has_exit:
        for at_ms, _direction in scans:
            if at_ms > now_ms:
                break
            end = min(at_ms + rules.default_stay_ms, now_ms)
            emit(at_ms, end, "entry", "default_stay" if end < now_ms else "open")
        return out

    open_at: int | None = None
    for at_ms, direction in scans:
        if at_ms > now_ms:
            break
        if open_at is not None and at_ms - open_at > rules.open_stay_ms:
            emit(open_at, open_at + rules.open_stay_ms, "entry", "cut_off")
            open_at = None
        if direction == "entry":
            if open_at is not None:
                emit(open_at, at_ms, "entry", "exit")  # re-entry: continues as one merged stay
            open_at = at_ms
        elif open_at is not None:
            emit(open_at, at_ms, "entry", "exit")
            open_at = None
        else:
            start = at_ms - rules.default_stay_ms
            if out and out[-1].end_ms > start:
                start = out[-1].end_ms
            emit(start, at_ms, "inferred", "exit")
    if open_at is not None:
        if now_ms - open_at > rules.open_stay_ms:
            emit(open_at, open_at + rules.open_stay_ms, "entry", "cut_off")
        else:
            emit(open_at, now_ms, "entry", "open")
    return out


def overlap_ms(stay: Stay, others: Sequence[Stay]) -> int:
    """Milliseconds of ``stay`` covered by ``others`` (disjoint stays of one person)."""
    total = 0
    for o in others:
        lo = max(stay.start_ms, o.start_ms)
        hi = min(stay.end_ms, o.end_ms)
        if hi > lo:
            total += hi - lo
    return total


def clip(stay: Stay, start_ms: int, end_ms: int) -> Stay | None:
    """The part of ``stay`` inside ``[start_ms, end_ms]`` (None when they do not meet)."""
    lo, hi = max(stay.start_ms, start_ms), min(stay.end_ms, end_ms)
    if hi < lo or (hi == lo and stay.start_ms != stay.end_ms):
        return None
    return Stay(stay.building, lo, hi, stay.began, stay.ended)


def inside_at(stays: Sequence[Stay], at_ms: int) -> bool:
    """Whether one of ``stays`` covers the instant ``at_ms`` (start inclusive, end exclusive;
    an ``open`` stay covers its end too)."""
    return any(s.start_ms <= at_ms < s.end_ms or (s.ended == "open" and at_ms == s.end_ms) for s in stays)
