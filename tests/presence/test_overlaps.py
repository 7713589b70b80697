"""The vectorised overlaps (server.presence.overlaps) agree with the stay rules: for random
histories of many people at one building, the time each covers of each stay of the person
queried equals what ``build_stays`` and ``overlap_ms`` give person by person, and the people
inside at any instant (occupancy) equal what ``build_stays`` and ``inside_at`` give."""

from __future__ import annotations

import random

import numpy as np
import pytest

from server.presence.overlaps import (
    by_person,
    inside_counts,
    last_scan_entries,
    open_count,
    overlap_totals,
    pieces,
)
from server.presence.stays import MINUTE_MS, Stay, StayRules, build_stays, inside_at, overlap_ms

M = MINUTE_MS
H = 60 * M
RULES = StayRules(default_stay_ms=60 * M, open_stay_ms=16 * H)


def history(rng: random.Random, has_exit: bool) -> list[tuple[int, str]]:
    t, scans = rng.randint(0, 48) * H, []
    for _ in range(rng.randint(0, 20)):
        t += rng.choice([0, 1, 5, 30, 59, 60, 61, 90, 600, 16 * 60, 16 * 60 + 1, 1200]) * M
        scans.append((t, rng.choice(["entry", "entry", "exit"]) if has_exit else "entry"))
    return scans


@pytest.mark.parametrize("has_exit", [True, False])
def test_pieces_cover_what_the_stays_cover(has_exit: bool) -> None:
    rng = random.Random(23 + has_exit)
    for _ in range(200):
        now = rng.choice([10**12, rng.randint(0, 400) * H])
        people = [history(rng, has_exit) for _ in range(rng.randint(1, 6))]
        probes = sorted({(a, a + rng.randint(1, 30) * H) for a in (rng.randint(0, 300) * H for _ in range(4))})
        stays = [Stay("B", a, b, "entry", "exit") for a, b in probes]
        subj = np.array([i for i, scans in enumerate(people) for _ in scans], dtype=np.int64)
        at = np.array([t for scans in people for t, _ in scans], dtype=np.int64)
        exits = np.array([d == "exit" for scans in people for _, d in scans], dtype=bool)
        p_subj, p_start, p_end = pieces(subj, at, exits, has_exit=has_exit, rules=RULES, now_ms=now)
        got = overlap_totals(p_subj, p_start, p_end, stays, len(people))
        for i, scans in enumerate(people):
            theirs = build_stays("B", scans, has_exit=has_exit, rules=RULES, now_ms=now)
            for row, stay in enumerate(stays):
                assert got[row, i] == overlap_ms(stay, theirs), (scans, stay, now)


def test_no_scans_no_pieces() -> None:
    empty = np.zeros(0, dtype=np.int64)
    p_subj, p_start, p_end = pieces(empty, empty, np.zeros(0, dtype=bool), has_exit=True, rules=RULES, now_ms=0)
    assert len(p_subj) == len(p_start) == len(p_end) == 0


def test_people_inside_at_each_instant_match_the_stays() -> None:
    """Occupancy's counts (pieces covering an instant; open stays at now) against each person's
    stays, on random histories read as storage answers them: rows in time order, interleaved."""
    rng = random.Random(41)
    for _ in range(200):
        now = rng.randint(20, 400) * H + rng.choice([0, 0, 1, 17 * M])
        people = [history(rng, True) for _ in range(rng.randint(0, 8))]
        rows = sorted(((bytes([i]), t, d) for i, scans in enumerate(people) for t, d in scans),
                      key=lambda r: r[1])  # a stable sort: one person's ties keep their order
        subj, at, is_exit = by_person(rows)
        marks = sorted({now, *(rng.randint(0, now // M) * M for _ in range(6)),
                        *(t for scans in people for t, _ in scans if t <= now)})
        got = inside_counts(subj, at, is_exit, marks, rules=RULES, now_ms=now)
        stays = [build_stays("B", scans, has_exit=True, rules=RULES, now_ms=now) for scans in people]
        assert got == [sum(inside_at(theirs, mark) for theirs in stays) for mark in marks], (people, now)
        inside_now = sum(1 for theirs in stays if theirs and theirs[-1].ended == "open")
        assert open_count(subj, at, is_exit, rules=RULES, now_ms=now) == inside_now
        assert last_scan_entries([r for r in rows if r[1] <= now], now - RULES.open_stay_ms) == inside_now
