"""The occupancy's kept scans (server/presence/scan_cache.py) give the same people inside and the
same chart as reading everything afresh, on each backend, while scans arrive on time, late into
past hours (an offline node), twice, and with a node clock ahead, across a local midnight."""

from __future__ import annotations

import random

from aiohttp.test_utils import TestClient

from server.presence.occupancy import Occupancy
from server.presence.scan_cache import SETTLE_MS, BuildingScanCache
from server.web import state

from .conftest import Campus, local_ms

PEOPLE = [f"S{i}" for i in range(8)]
H_MS = 3_600_000


def hhmm(ms: int) -> tuple[int, str]:
    """(day of March 2026, "HH:MM") of a Unix ms instant on a whole minute, local time."""
    base = local_ms(1, "00:00")
    day, rest = divmod(ms - base, 24 * H_MS)
    return day + 1, f"{rest // H_MS:02d}:{rest % H_MS // 60_000:02d}"


async def test_kept_scans_answer_as_a_fresh_read_with_late_and_repeated_uploads(
        client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    """(``client`` starts the app.)"""
    c: Campus = campus()
    await c.build({p: "CS" for p in PEOPLE})
    db = c.app[state.SERVICES].db
    config = c.app[state.CONFIG].presence
    cache = BuildingScanCache(db)
    kept = Occupancy(db, c.clock, config, cache)
    rng = random.Random(19)
    c.advance_to(2, "18:00")
    rereads_seen = False
    for step in range(40):
        now = int(c.clock.now().timestamp() * 1000) // 60_000 * 60_000
        for node in ("d1-in", "d1-out", "lib-in", "lib-out"):
            if rng.random() < 0.3:
                continue  # offline this round: its scans wait
            for _ in range(rng.randint(0, 4)):
                # mostly the last minutes; some hours back (a node that was offline); a few a
                # minute ahead (a node clock running fast)
                back = rng.choice([0, 1, 2, 3, 10, 60, 90, 300, 600, 1500]) * 60_000
                at = now - rng.randint(0, max(back, 1)) // 60_000 * 60_000
                if rng.random() < 0.05:
                    at = now + 60_000
                c.scan(node, rng.choice(PEOPLE), *hhmm(at))
            await c.upload(node)
            if rng.random() < 0.1 and c.feeds[node].sent:  # a retried batch adds nothing
                await c.upload(node, c.feeds[node].sent[-3:])
        for _ in range(2):  # the second answer comes from the memo
            got = await kept.today()
            fresh = await Occupancy(db, c.clock, config).today()
            assert got == fresh, step
            assert await kept.now() == await Occupancy(db, c.clock, config).now()
        rereads_seen = rereads_seen or cache.rereads > 0
        c.clock.advance(rng.choice([20, 90, 240, 700, 1800, 3000]))
    assert rereads_seen  # late uploads into the kept range did happen and were caught
    assert c.clock.now().timestamp() * 1000 > local_ms(3, "00:00") + SETTLE_MS  # the day changed on the way


async def test_at_midnight_the_kept_scans_move_on_without_a_whole_read(
        client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    """(``client`` starts the app.)"""
    c: Campus = campus()
    await c.build({p: "CS" for p in PEOPLE})
    db = c.app[state.SERVICES].db
    config = c.app[state.CONFIG].presence
    for node, person, at in (("d1-in", "S0", "08:00"), ("d1-out", "S0", "09:00"), ("d1-in", "S1", "21:00"),
                             ("d1-in", "S2", "23:30"), ("lib-in", "S3", "23:40")):
        c.scan(node, person, 2, at)
    c.advance_to(2, "23:50")
    for node in ("d1-in", "d1-out", "lib-in"):
        await c.upload(node)
    cache = BuildingScanCache(db)
    kept = Occupancy(db, c.clock, config, cache)
    assert await kept.today() == await Occupancy(db, c.clock, config).today()
    assert cache.whole_reads == 2  # D1 and LIB
    c.scan("d1-out", "S1", 3, "00:05")
    c.advance_to(3, "01:10")
    await c.upload("d1-out")
    got = await kept.today()
    assert got == await Occupancy(db, c.clock, config).today()
    assert got[2] == {"D1": [2, 1], "LIB": [1, 1]}  # 00:00: S1 (out at 00:05) and S2; S3 in the library
    assert cache.whole_reads == 2 and cache.rereads == 0  # the window moved on; nothing read again
