"""Each building's accepted scans of the occupancy window, kept in this process between requests
and checked against the database at every request (issue 19; docs/tracing.md).

Occupancy with today's chart needs each building's scans since ``open_stay_h`` before local
midnight: up to 40 hours, some 175,000 scans on a campus of 30,000 people, and reading them was
most of the page's cost, although almost all of them were there at the previous request. So
:class:`BuildingScanCache` keeps them, as numpy columns, up to a **settled** instant (the time
of a request minus :data:`SETTLE_MS`), and at each request:

1. counts in the database, in one statement (an index-only count, no rows read), each kept
   building's scans from the start of the window to the settled instant. Scans in that range
   are only ever added: no scan's time, verdict, direction or subject is ever changed, and
   retention deletes only scans weeks old (docs/tracing.md). So the same count means the same
   scans; a building whose count differs (a node uploaded late into the settled range, through
   this process or another) is read again, whole;
2. reads every building's scans after the settled instant up to now (a few minutes' worth,
   one statement) and keeps those that are now settled.

The columns answered are therefore exactly the scans a full read would return, in the same
order (a test compares both over random histories with late uploads, on each backend). Nothing
is shared between processes but the database, so the answer is right in every process of a
multi-process deployment by construction; a process that has not been asked for a while only
pays a longer step 2, or step 1's re-read. At midnight the window moves on by a day and the
scans it no longer covers are dropped.

Each building's kept scans carry a ``memo`` for figures that depend only on settled scans (the
chart's past hours); it is emptied with them when they are read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np

from server.storage.database import Database
from server.storage.presence import PresenceStore

SETTLE_MS = 5 * 60_000
"""Scans older than this at a request are kept; younger ones are read again at each request, so
the usual few seconds' sync delay never causes a re-read (a scan uploaded later than this into
the kept range makes its building be read again)."""


@dataclass(frozen=True, slots=True)
class BuildingScans:
    """One building's accepted scans with a pass subject in ``[from_ms, now_ms]``, in time order
    (ties in the order the database answered them).

    Attributes:
        person: int64 array (N,), a small integer per pass subject (the same while the building's
            scans stay kept).
        at_ms: int64 array (N,), scan times (Unix ms), ascending.
        is_exit: bool array (N,), the scan was made at an exit node.
        settled_ms: the scans up to this instant are the kept ones; ``memo`` holds only what
            they alone decide.
        memo: figures derived from the scans up to ``settled_ms`` (``{key: value}``), shared
            between requests while those scans stay kept.
    """

    person: np.ndarray
    at_ms: np.ndarray
    is_exit: np.ndarray
    settled_ms: int
    memo: dict[int, int]

    def since(self, lo_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(person, at_ms, is_exit)`` of the scans at or after ``lo_ms``."""
        i = int(np.searchsorted(self.at_ms, lo_ms, side="left"))
        return self.person[i:], self.at_ms[i:], self.is_exit[i:]


@dataclass(slots=True)
class _Kept:
    index: dict[Any, int]
    person: np.ndarray
    at_ms: np.ndarray
    is_exit: np.ndarray
    memo: dict[int, int] = field(default_factory=dict)


def _columns(index: dict[Any, int], subjects: Sequence[Any], times: Sequence[int], directions: Sequence[str]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numpy columns of rows, numbering new subjects in ``index`` in order of first scan."""
    for s in dict.fromkeys(subjects):
        if s not in index:
            index[s] = len(index)
    n = len(times)
    return (np.fromiter(map(index.__getitem__, subjects), dtype=np.int64, count=n),
            np.fromiter(times, dtype=np.int64, count=n),
            np.fromiter(map("exit".__eq__, directions), dtype=bool, count=n))


class BuildingScanCache:
    """The occupancy window's scans of each building, kept between requests (one per server
    process; see the module docstring for why it is always right).

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.store = PresenceStore(db)
        self._lock = asyncio.Lock()
        self._from_ms: int | None = None
        self._settled_ms = 0
        self._kept: dict[str, _Kept] = {}
        self.rereads = 0
        """Buildings read again because their count differed (for tests)."""
        self.whole_reads = 0
        """Buildings read whole from the start of the window: first, after a new start, and
        after a changed count (for tests)."""

    async def read(self, buildings: Sequence[str], from_ms: int, now_ms: int) -> dict[str, BuildingScans]:
        """``{building: its accepted scans with a subject in [from_ms, now_ms]}``, the same as
        :meth:`server.storage.presence.PresenceStore.building_scans` would read now. A new
        ``from_ms`` (a new day) or a clock that went back before the settled instant starts
        afresh; a later ``from_ms`` (the next day) keeps the scans the window still covers."""
        async with self._lock:
            if self._from_ms is not None and self._from_ms < from_ms <= self._settled_ms <= now_ms:
                for k in self._kept.values():
                    i = int(np.searchsorted(k.at_ms, from_ms, side="left"))
                    k.person, k.at_ms, k.is_exit = k.person[i:], k.at_ms[i:], k.is_exit[i:]
                    k.memo.clear()  # a new day's figures
                self._from_ms = from_ms
            elif from_ms != self._from_ms or now_ms < self._settled_ms:
                self._kept.clear()
                self._from_ms, self._settled_ms = from_ms, from_ms - 1
            old = self._settled_ms
            settled = max(old, now_ms - SETTLE_MS)
            wanted = list(dict.fromkeys(buildings))
            kept = [b for b in wanted if b in self._kept]
            counts = await self.store.count_building_scans(kept, from_ms, old) if kept else {}
            for b in kept:
                if counts.get(b, 0) != len(self._kept[b].at_ms):
                    del self._kept[b]
                    self.rereads += 1
            for b in wanted:
                if b not in self._kept:  # read whole up to the settled instant, the rest below
                    self.whole_reads += 1
                    rows = await self.store.building_scans(b, from_ms, old) if old >= from_ms else []
                    subjects, times, directions = zip(*rows, strict=True) if rows else ((), (), ())
                    index: dict[Any, int] = {}
                    self._kept[b] = _Kept(index, *_columns(index, subjects, times, directions))
            fresh = {b: list(rows) for b, rows in groupby(
                await self.store.buildings_scans(wanted, old + 1, now_ms), key=itemgetter(0))}
            out = {}
            for b in wanted:
                k = self._kept[b]
                rows = fresh.get(b, [])
                if rows:
                    _b, subjects, times, directions = zip(*rows, strict=True)
                    person, at, is_exit = _columns(k.index, subjects, times, directions)
                    person = np.concatenate([k.person, person])
                    at = np.concatenate([k.at_ms, at])
                    is_exit = np.concatenate([k.is_exit, is_exit])
                    n = int(np.searchsorted(at, settled, side="right"))
                    k.person, k.at_ms, k.is_exit = person[:n], at[:n], is_exit[:n]
                else:
                    person, at, is_exit = k.person, k.at_ms, k.is_exit
                out[b] = BuildingScans(person, at, is_exit, settled, k.memo)
            for b in [b for b in self._kept if b not in out]:
                del self._kept[b]
            self._settled_ms = settled
            return out
