"""Scan links (server.storage.links) on both backends: maintained by sync ingest batch by batch,
late and repeated batches included, they equal a relink of everything; migration 0260 builds
them for scans already stored; retention clears a link to a deleted scan; and the overlaps the
database sums from them equal what ``build_stays`` gives person by person."""

from __future__ import annotations

import os
import random
from typing import Any

from server.datadir import DataDir
from server.presence.stays import MINUTE_MS, Stay, StayRules, build_stays, overlap_ms, scan_window
from server.storage.buildings import Buildings
from server.storage.database import Database
from server.storage.links import LINK_HORIZON_MS
from server.storage.nodes import Nodes
from server.storage.people import NewPerson, People
from server.storage.presence import PresenceStore
from server.storage.scans import ScanLog
from server.web import state

from .conftest import local_ms, login_as

M = MINUTE_MS
H = 60 * M
RULES = StayRules(default_stay_ms=60 * M, open_stay_ms=16 * H)
BASE = 1_772_000_000_000  # some day in 2026, Unix ms
NODES = {"B": ("b-in", "b-out"), "O": ("o-in",)}  # B has an exit node, O entry doors only


async def campus(datadir: DataDir, people: int) -> tuple[Database, list[bytes], dict[bytes, int]]:
    """Buildings B and O with their nodes, ``people`` people and one visitor pass (no person)."""
    db = await datadir.open_database()
    for code, nodes in NODES.items():
        await Buildings(db).add_building(code, f"Building {code}", "campus")
        for node in nodes:
            await Nodes(db).register(node, building=code, public_key=os.urandom(32), now_s=BASE // 1000,
                                     direction="exit" if node.endswith("out") else "entry")
    subjects = [os.urandom(8) for _ in range(people + 1)]
    async with db.transaction() as conn:
        await People.upsert_department(conn, "CS", "Computer science")
        await People.upsert_many(conn, [NewPerson(f"N{i}", f"Name {i}", "student", "CS", None, None, "x", s)
                                        for i, s in enumerate(subjects[:-1])], 0)
    ids = {bytes(r[0]): int(r[1]) for r in await db.fetch_all("SELECT subject, id FROM people")}
    return db, subjects, ids


def history(rng: random.Random, has_exit: bool) -> list[tuple[int, str]]:
    t, scans = BASE + rng.randint(0, 48) * H, []
    for _ in range(rng.randint(0, 14)):
        t += rng.choice([0, 1, 5, 30, 59, 60, 61, 90, 600, 16 * 60, 16 * 60 + 1, 17 * 60, 1200, 1441, 3000]) * M
        scans.append((t, rng.choice(["entry", "entry", "exit"]) if has_exit else "entry"))
    return scans


def scan_row(seq: int, node: str, building: str, direction: str, at_ms: int, subject: bytes | None,
             verdict: str = "accept") -> tuple[Any, ...]:
    return (f"{seq:08x}-0000-7000-8000-{os.urandom(6).hex()}", node, seq, building, direction, at_ms, 1,
            os.urandom(8), subject, "0" * 64, verdict, "accepted" if verdict == "accept" else "expired", "0" * 64,
            at_ms // 1000)


async def upload(db: Database, building: str, rows: list[tuple[Any, ...]]) -> int:
    """One batch as sync ingest stores it: links first, then the insert, one transaction."""
    async with db.transaction() as conn:
        links = await PresenceStore.link_new_scans(conn, building, [
            (r[0], r[8], r[5], r[4]) for r in rows if r[10] == "accept" and r[8] is not None])
        return await ScanLog.insert(conn, rows, links)


async def links_of(db: Database) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch_all("SELECT id, prev_at, prev_entry FROM scans ORDER BY id")]


async def relinked(db: Database) -> list[tuple[Any, ...]]:
    """The links a relink of everything gives (the stored ones put back afterwards)."""
    held = await links_of(db)
    async with db.transaction() as conn:
        await conn.execute("UPDATE scans SET prev_at = NULL, prev_entry = NULL")
        await PresenceStore.relink(conn, 0)
    out = await links_of(db)
    async with db.transaction() as conn:
        await conn.executemany("UPDATE scans SET prev_at = ?, prev_entry = ? WHERE id = ?",
                               [(p, e, i) for i, p, e in held])
    return out


async def check_overlaps(db: Database, rng: random.Random, code: str, histories: list[list[tuple[int, str]]],
                         subjects: list[bytes], ids: dict[bytes, int]) -> None:
    """The database's sums against build_stays/overlap_ms, for random stays and present times."""
    store = PresenceStore(db)
    has_exit = code == "B"
    for _ in range(12):
        now = rng.choice([BASE + 10**10, BASE + rng.randint(0, 400) * H])
        probes = sorted({(a, a + rng.randint(1, 30) * H) for a in (BASE + rng.randint(0, 300) * H for _ in range(4))})
        stays = [(i, a, b, *scan_window(a, b, has_exit, RULES)) for i, (a, b) in enumerate(probes)]
        got = {(r[0], r[1]): r[2] for r in await store.overlaps(
            code, has_exit, stays, me=b"nobody", now_ms=now, cut_ms=RULES.open_stay_ms,
            default_ms=RULES.default_stay_ms, threshold_ms=1)}
        want = {}
        for person, scans in enumerate(histories):
            # scans at the same instant: entry before exit (the order the links follow, as the
            # building index gives them)
            theirs = build_stays(code, sorted(scans), has_exit=has_exit, rules=RULES, now_ms=now)
            for i, (a, b) in enumerate(probes):
                ms = overlap_ms(Stay(code, a, b, "entry", "exit"), theirs)
                if ms > 0:
                    want[(i, ids.get(subjects[person], -1))] = ms
        assert got == want, (code, now, probes)


async def test_links_kept_by_ingest_batch_by_batch_equal_a_relink_and_give_the_stays_overlaps(
        datadir: DataDir) -> None:
    rng = random.Random(260)
    db, subjects, ids = await campus(datadir, 7)
    try:
        seq = 0
        for code, nodes in NODES.items():
            histories = [history(rng, code == "B") for _ in subjects]
            rows = []
            for person, scans in enumerate(histories):
                for at_ms, direction in scans:
                    seq += 1
                    rows.append(scan_row(seq, nodes[0] if direction == "entry" else nodes[1], code, direction, at_ms,
                                         subjects[person]))
            for _ in range(6):  # refused scans and scans of no pass never count and are never linked
                seq += 1
                rows.append(scan_row(seq, nodes[0], code, "entry", BASE + rng.randint(0, 300) * H,
                                     rng.choice([None, subjects[0]]), verdict="deny"))
            rows.sort(key=lambda r: r[5])
            cuts = sorted({0, len(rows), *rng.sample(range(1, len(rows)), len(rows) // 5)})
            batches = [rows[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
            # most batches in time order; some held back by an offline node and uploaded last
            late = [b for b in batches if rng.random() < 0.3]
            for batch in [b for b in batches if b not in late] + late:
                assert await upload(db, code, batch) == len(batch)
            for batch in rng.sample(batches, 3):  # a retried batch adds nothing and changes no link
                before = await links_of(db)
                assert await upload(db, code, batch) == 0
                assert await links_of(db) == before
            await check_overlaps(db, rng, code, histories, subjects, ids)
        held = await links_of(db)
        assert held == await relinked(db)
        assert sum(1 for _i, p, _e in held if p is not None) > 50  # the histories link many scans
    finally:
        await db.close()


async def test_migration_0260_links_the_scans_already_stored(datadir: DataDir) -> None:
    rng = random.Random(2600)
    db, subjects, ids = await campus(datadir, 5)
    try:
        histories = [history(rng, True) for _ in subjects]
        rows = [scan_row(0, "b-in" if d == "entry" else "b-out", "B", d, t, subjects[p])
                for p, scans in enumerate(histories) for t, d in scans]
        rows = [(r[0], r[1], seq, *r[3:]) for seq, r in enumerate(sorted(rows, key=lambda r: r[5]))]
        async with db.transaction() as conn:
            await ScanLog.insert(conn, rows)
        expected = await relinked(db)
        # the database as it was before 0260, holding these scans: no link columns, the old index
        async with db.transaction() as conn:
            for sql in ("DROP INDEX scans_building_presence", "ALTER TABLE scans DROP COLUMN prev_at",
                        "ALTER TABLE scans DROP COLUMN prev_entry",
                        "CREATE INDEX scans_building_presence ON scans (building, at_ms, verdict, direction, subject)",
                        "DELETE FROM schema_migrations WHERE number = 260"):
                await conn.execute(sql)
        assert await db.migrate() == ["0260_scan_links.sql"]
        assert await links_of(db) == expected
        assert any(p is not None for _i, p, _e in expected)
        await check_overlaps(db, rng, "B", histories, subjects, ids)
    finally:
        await db.close()


async def test_retention_clears_links_to_deleted_scans(datadir: DataDir) -> None:
    db, subjects, ids = await campus(datadir, 2)
    try:
        cut = BASE + 30 * H
        histories = [[(cut - 2 * H, "entry"), (cut + H, "exit")],  # inside across the horizon: tailgated after
                     [(cut - 30 * M, "entry"), (cut + 20 * M, "entry"), (cut + 3 * H, "exit")], []]
        rows = [scan_row(seq, "b-in" if d == "entry" else "b-out", "B", d, t, subjects[p])
                for seq, (p, t, d) in enumerate(sorted(((p, t, d) for p, scans in enumerate(histories)
                                                        for t, d in scans), key=lambda x: x[1]))]
        assert await upload(db, "B", rows) == len(rows)
        async with db.transaction() as conn:
            assert await PresenceStore.delete_scans_before(conn, cut, 100) == 2
        kept = [[(t, d) for t, d in scans if t >= cut] for scans in histories]
        stored = {r[0]: (r[1], r[2]) for r in await db.fetch_all("SELECT at_ms, prev_at, prev_entry FROM scans")}
        assert stored == {cut + H: (None, None), cut + 20 * M: (None, None), cut + 3 * H: (cut + 20 * M, 1)}
        assert await links_of(db) == await relinked(db)
        await check_overlaps(db, random.Random(5), "B", kept, subjects, ids)
        got = await PresenceStore(db).overlaps("B", True, [(0, cut, cut + 4 * H, cut - 16 * H, cut + 5 * H)],
                                               me=b"nobody", now_ms=cut + 10 * H, cut_ms=RULES.open_stay_ms,
                                               default_ms=RULES.default_stay_ms, threshold_ms=1)
        # the first person's exit now stands alone (an hour before it), the second was inside 20 min -> 3 h
        assert sorted(got) == sorted([(0, ids[subjects[0]], H), (0, ids[subjects[1]], 160 * M)])
        assert LINK_HORIZON_MS >= RULES.open_stay_ms + RULES.default_stay_ms
    finally:
        await db.close()


async def test_an_upload_whose_scan_id_is_taken_relinks_the_scans_after_it(client, campus) -> None:  # type: ignore[no-untyped-def]
    """A faulty node reuses another node's scan id: that record is not stored (ids are unique),
    so the scan after it in the same batch must not point back to it."""
    c = campus()
    await c.build({"SP": "CS", "SA": "CS"})
    c.scan("lib-in", "SP", 2, "09:00")
    taken = c.scan("lib-in", "SA", 2, "09:30")  # someone else's scan
    c.advance_to(2, "09:40")
    assert await c.upload("lib-in") == 2
    c.scan("lib-out", "SP", 2, "10:00", scan_id=taken)  # not stored
    c.scan("lib-out", "SP", 2, "11:00")
    c.advance_to(2, "12:00")
    assert await c.upload("lib-out") == 1
    db = c.app[state.SERVICES].db
    rows = await db.fetch_all("SELECT at_ms, direction, prev_at, prev_entry FROM scans WHERE node_id = 'lib-out'")
    assert [tuple(r) for r in rows] == [(local_ms(2, "11:00"), "exit", local_ms(2, "09:00"), 1)]
    assert await links_of(db) == await relinked(db)
    await login_as(client, "ADM", "school_admin")
    r = await client.post("/api/v1/tracing/queries", json={"number": "SA", "reason": "faulty node check"})
    assert r.status == 200
    # SP was inside 09:00 -> 11:00 (the exit closes the entry); SA from 09:30 (still open at 12:00)
    assert [(x["number"], x["overlap_min"]) for x in (await r.json())["contacts"]] == [("SP", 90.0)]
