"""How long each of many people overlapped each of one person's stays at one building, computed
over all their scans at once (numpy) instead of rebuilding every person's stays one by one.

The stay rules are those of :func:`server.presence.stays.build_stays` (docs/tracing.md); this
module does not merge stays but cuts the time inside into disjoint **pieces**, whose union is
the same set of instants, so every overlap sum is the same (a test checks it against
``build_stays`` and ``overlap_ms`` on random histories). For one person's scans at one building
in time order (scans after ``now`` ignored), each scan gives at most one piece:

* entry-only building: an entry at ``t`` gives ``[t, min(t + default, next entry, now))``;
* building with exit nodes:

  - an entry at ``t`` gives ``[t, next scan)`` when the next scan comes within the cut-off
    (an exit closes the stay; a re-entry continues it), else ``[t, t + cut-off)``; with no next
    scan, ``[t, now)`` while still within the cut-off, else ``[t, t + cut-off)``;
  - an exit that closes an open stay (the previous scan is an entry within the cut-off) gives
    nothing: the entry's piece ends at it;
  - any other exit (tailgated in) gives ``[max(t - default, end of the previous piece), t)``.

Cost: a few vectorised passes over the window's scans and one per stay of the person queried.

Occupancy uses the same pieces: :func:`inside_counts` counts the people inside a building with
exit nodes at given instants (what :func:`server.presence.stays.inside_at` says person by
person), and :func:`open_count` (or :func:`last_scan_entries` straight from the rows) the
people inside now.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np

from server.presence.stays import Stay, StayRules


def pieces(subjects: np.ndarray, at_ms: np.ndarray, is_exit: np.ndarray, *, has_exit: bool, rules: StayRules,
           now_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint time pieces inside one building, per person.

    Args:
        subjects: int64 array (N,), a small integer per person, scans grouped by person.
        at_ms: int64 array (N,), scan times (Unix ms), in time order within each person (ties
            in upload order).
        is_exit: bool array (N,), the scan was at an exit node.
        has_exit: the building has exit nodes.
        rules: default stay and cut-off.
        now_ms: the present; later scans are ignored and open stays end here.

    Returns:
        ``(subject, start_ms, end_ms)`` int64 arrays of the pieces (empty pieces left out).
    """
    keep = at_ms <= now_ms
    subjects, at_ms, is_exit = subjects[keep], at_ms[keep], is_exit[keep]
    n = len(at_ms)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = subjects[1:] == subjects[:-1]
    next_at = np.empty(n, dtype=np.int64)
    next_at[:-1] = at_ms[1:]
    next_at[-1] = 0
    if not has_exit:
        end = at_ms + rules.default_stay_ms
        end = np.where(same_next & (next_at < end), next_at, end)
        end = np.minimum(end, now_ms)
        return subjects, at_ms, end
    cut = rules.open_stay_ms
    is_entry = ~is_exit
    within = same_next & (next_at - at_ms <= cut)
    last_open = ~same_next & (now_ms - at_ms <= cut)
    entry_end = np.where(within, next_at, np.where(last_open, now_ms, at_ms + cut))
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = same_next[:-1]
    prev_at = np.zeros(n, dtype=np.int64)
    prev_at[1:] = at_ms[:-1]
    prev_entry = np.zeros(n, dtype=bool)
    prev_entry[1:] = is_entry[:-1]
    closes = is_exit & same_prev & prev_entry & (at_ms - prev_at <= cut)
    tailgated = is_exit & ~closes
    # The previous piece of the same person ends at the previous scan (its exit, or the re-entry
    # or exit that ended its entry's piece) unless that entry was cut off.
    prev_end = np.where(prev_entry, prev_at + cut, prev_at)
    inferred_start = np.where(same_prev, np.maximum(at_ms - rules.default_stay_ms, prev_end),
                              at_ms - rules.default_stay_ms)
    start = np.where(is_entry, at_ms, inferred_start)
    end = np.where(is_entry, entry_end, at_ms)
    use = (is_entry | tailgated) & (end > start)
    return subjects[use], start[use], end[use]


def overlap_totals(piece_subjects: np.ndarray, starts: np.ndarray, ends: np.ndarray, stays: Sequence[Stay],
                   people: int) -> np.ndarray:
    """Milliseconds each person's pieces cover of each stay: int64 array (len(stays), people)."""
    out = np.zeros((len(stays), people), dtype=np.int64)
    for row, stay in enumerate(stays):
        cover = np.minimum(ends, stay.end_ms) - np.maximum(starts, stay.start_ms)
        hit = cover > 0
        if hit.any():
            out[row] = np.bincount(piece_subjects[hit], weights=cover[hit], minlength=people).astype(np.int64)
    return out


def by_person(rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One building's scans ``(subject, at_ms, direction)`` in time order as the columns
    :func:`pieces` takes: ``(person int64, at_ms int64, is_exit bool)`` arrays (N,), grouped by
    person (numbered from 0 in order of first scan), in time order within each (ties as given)."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    subject_col, time_col, direction_col = zip(*rows, strict=True)  # columns, transposed in C
    index = {o: i for i, o in enumerate(dict.fromkeys(subject_col))}
    subj = np.fromiter(map(index.get, subject_col, repeat(-1)), dtype=np.int64, count=len(rows))
    at = np.fromiter(time_col, dtype=np.int64, count=len(rows))
    is_exit = np.fromiter(map("exit".__eq__, direction_col), dtype=bool, count=len(rows))
    order = np.lexsort((np.arange(len(at)), at, subj))
    return subj[order], at[order], is_exit[order]


def open_count(subjects: np.ndarray, at_ms: np.ndarray, is_exit: np.ndarray, *, rules: StayRules,
               now_ms: int) -> int:
    """People inside a building with exit nodes at ``now_ms``: those whose last scan up to then
    (columns as for :func:`pieces`) is an entry no older than the cut-off (an ``open`` stay)."""
    keep = at_ms <= now_ms
    subjects, at_ms, is_exit = subjects[keep], at_ms[keep], is_exit[keep]
    if len(at_ms) == 0:
        return 0
    last = np.ones(len(at_ms), dtype=bool)
    last[:-1] = subjects[1:] != subjects[:-1]
    return int(np.count_nonzero(last & ~is_exit & (now_ms - at_ms <= rules.open_stay_ms)))


def last_scan_entries(rows: Sequence[Sequence[Any]], since_ms: int) -> int:
    """:func:`open_count` straight from one building's scans ``(subject, at_ms, direction)`` in
    time order up to now (ties as stored), ``since_ms`` = now - cut-off: the people whose last
    scan is an entry made since then (one pass in C: a dict keeps each person's last scan)."""
    if not rows:
        return 0
    subject_col, time_col, direction_col = zip(*rows, strict=True)
    last = dict(zip(subject_col, zip(time_col, direction_col, strict=True), strict=True))
    return sum(1 for at_ms, direction in last.values() if direction == "entry" and at_ms >= since_ms)


def inside_counts(subjects: np.ndarray, at_ms: np.ndarray, is_exit: np.ndarray, marks_ms: Sequence[int], *,
                  rules: StayRules, now_ms: int) -> list[int]:
    """People inside a building with exit nodes at each instant of ``marks_ms`` (Unix ms, none
    after ``now_ms``; columns as for :func:`pieces`). A person's pieces are disjoint, so the
    pieces covering an instant are the people inside then; at ``now_ms`` itself an open stay
    counts too (it covers its end), so that instant is :func:`open_count`."""
    _subj, start, end = pieces(subjects, at_ms, is_exit, has_exit=True, rules=rules, now_ms=now_ms)
    marks = np.asarray(marks_ms, dtype=np.int64)
    counts = (np.searchsorted(np.sort(start), marks, side="right")
              - np.searchsorted(np.sort(end), marks, side="right"))
    out = [int(c) for c in counts]
    for i, mark in enumerate(marks_ms):
        if mark == now_ms:
            out[i] = open_count(subjects, at_ms, is_exit, rules=rules, now_ms=now_ms)
    return out
