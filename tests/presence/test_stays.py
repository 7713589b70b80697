"""The stay rules, table-driven (server.presence.stays): entry/exit pairs, entry-only doors with
the default stay, the never-badged-out cut-off, re-entries, exits without entries, and the
window that rebuilds every stay overlapping a period exactly."""

from __future__ import annotations

import random

import pytest

from server.presence.stays import MINUTE_MS, Stay, StayRules, build_stays, clip, overlap_ms, scan_window

M = MINUTE_MS
H = 60 * M
RULES = StayRules(default_stay_ms=60 * M, open_stay_ms=16 * H)
NOW = 100 * H


def stays(scans: list[tuple[int, str]], has_exit: bool = True, now: int = NOW) -> list[tuple[int, int, str, str]]:
    return [(s.start_ms, s.end_ms, s.began, s.ended)
            for s in build_stays("B", scans, has_exit=has_exit, rules=RULES, now_ms=now)]


CASES = [
    ("entry then exit", [(1 * H, "entry"), (3 * H, "exit")], True, [(1 * H, 3 * H, "entry", "exit")]),
    ("across midnight (times are instants)", [(22 * H, "entry"), (31 * H, "exit")], True,
     [(22 * H, 31 * H, "entry", "exit")]),
    ("never badged out: cut off", [(1 * H, "entry")], True, [(1 * H, 17 * H, "entry", "cut_off")]),
    ("still inside now", [(90 * H, "entry")], True, [(90 * H, NOW, "entry", "open")]),
    ("exit past the cut-off is an exit without entry", [(1 * H, "entry"), (20 * H, "exit")], True,
     [(1 * H, 17 * H, "entry", "cut_off"), (19 * H, 20 * H, "inferred", "exit")]),
    ("re-entry continues one stay", [(1 * H, "entry"), (2 * H, "entry"), (4 * H, "exit")], True,
     [(1 * H, 4 * H, "entry", "exit")]),
    ("exit without entry: default stay before it", [(5 * H, "exit")], True, [(4 * H, 5 * H, "inferred", "exit")]),
    ("second exit extends, never overlaps", [(1 * H, "entry"), (2 * H, "exit"), (2 * H + 5 * M, "exit")], True,
     [(1 * H, 2 * H + 5 * M, "entry", "exit")]),
    ("entry-only door: default stay", [(1 * H, "entry")], False, [(1 * H, 2 * H, "entry", "default_stay")]),
    ("entry-only door: overlapping entries merge", [(1 * H, "entry"), (1 * H + 30 * M, "entry")], False,
     [(1 * H, 2 * H + 30 * M, "entry", "default_stay")]),
    ("entry-only door: still inside", [(NOW - 10 * M, "entry")], False, [(NOW - 10 * M, NOW, "entry", "open")]),
    ("scans after now are ignored", [(NOW + H, "entry")], True, []),
]


@pytest.mark.parametrize(("name", "scans", "has_exit", "expected"), CASES, ids=[c[0] for c in CASES])
def test_stay_rules(name: str, scans: list[tuple[int, str]], has_exit: bool,
                    expected: list[tuple[int, int, str, str]]) -> None:
    assert stays(scans, has_exit) == expected


def test_overlap_and_clip() -> None:
    a = Stay("B", 1 * H, 3 * H, "entry", "exit")
    others = [Stay("B", 0, 90 * M, "entry", "exit"), Stay("B", 2 * H, 5 * H, "entry", "exit")]
    assert overlap_ms(a, others) == 30 * M + 60 * M
    assert clip(a, 2 * H, 10 * H) == Stay("B", 2 * H, 3 * H, "entry", "exit")
    assert clip(a, 4 * H, 5 * H) is None


def test_rules_refuse_a_cut_off_shorter_than_the_default_stay() -> None:
    with pytest.raises(ValueError, match="shorter than the default stay"):
        StayRules(default_stay_ms=2 * H, open_stay_ms=1 * H)


@pytest.mark.parametrize("has_exit", [True, False])
def test_the_scan_window_rebuilds_every_overlapping_stay_exactly(has_exit: bool) -> None:
    """Random scan histories: stays rebuilt from the window's scans only agree with those rebuilt
    from the whole history wherever they meet the period (what the building reads rely on)."""
    rng = random.Random(19)
    for _ in range(600):
        t, scans = 0, []
        for _ in range(rng.randint(0, 30)):
            t += rng.choice([1, 5, 30, 90, 600, 1200]) * M
            scans.append((t, rng.choice(["entry", "entry", "exit"]) if has_exit else "entry"))
        a = rng.randint(0, max(1, t)) // M * M
        b = a + rng.randint(1, 48) * H
        lo, hi = scan_window(a, b, has_exit, RULES)
        probe = Stay("B", a, b, "entry", "exit")
        for now in (10**12, rng.randint(b, b + 20 * H) // M * M):  # long past, or shortly after the period
            full = build_stays("B", scans, has_exit=has_exit, rules=RULES, now_ms=now)
            window = build_stays("B", [s for s in scans if lo <= s[0] <= hi], has_exit=has_exit, rules=RULES,
                                 now_ms=now)
            assert overlap_ms(probe, full) == overlap_ms(probe, window), (scans, a, b, now)

