"""Transactions of one person on PostgreSQL (server/storage/postgres.py, docs/deploy.md): different
people's check-ins run side by side, the same person's wait for each other, a transaction of no
particular person runs alone, and revocation list versions become visible in order.

Every lock is observed in ``pg_locks`` of a real PostgreSQL server (tests/pg.py); nothing is timed.
SQLite has one writer at a time whatever it is given; its side is the rest of the suite.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from aiohttp import web

from server.storage.buildings import Buildings
from server.storage.passes import Passes
from server.storage.people import People
from server.storage.postgres import ORDER_LOCK_CLASS, PERSON_LOCK_CLASS, WRITE_LOCK_KEY, PgDatabase
from server.web import state
from tests.pg import PgCluster
from tests.workflow.conftest import Login, checkin_body

PERSON, SHARED, ORDER = "person", "shared", "order"


@pytest.fixture
def database_url(pg_cluster: PgCluster) -> Iterator[str]:
    """PostgreSQL only (this file is about its locks): a fresh migrated database."""
    url = pg_cluster.create_database()
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[PgDatabase]:
    database = await PgDatabase.open(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def observer(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A separate session that reads ``pg_locks`` and takes locks of its own."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def waiting(observer: psycopg.AsyncConnection[Any]) -> list[tuple[str, int]]:
    """The advisory locks other sessions wait for: ``(kind, key)``; kind person/order with the
    second key, or the write lock (``shared``, key 0)."""
    cur = await observer.execute(
        "SELECT classid::bigint, objid::bigint, objsubid FROM pg_locks"
        " WHERE locktype = 'advisory' AND NOT granted AND pid <> pg_backend_pid()")
    out = []
    for classid, objid, subid in await cur.fetchall():
        if subid == 1 and (classid << 32 | objid) == WRITE_LOCK_KEY:
            out.append((SHARED, 0))
        elif subid == 2 and classid == PERSON_LOCK_CLASS:
            out.append((PERSON, objid))
        elif subid == 2 and classid == ORDER_LOCK_CLASS:
            out.append((ORDER, objid))
    return sorted(out)


async def granted_person_locks(observer: psycopg.AsyncConnection[Any]) -> list[int]:
    cur = await observer.execute(
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
        " AND classid::bigint = %s ORDER BY 1", (PERSON_LOCK_CLASS,))
    return [int(r[0]) for r in await cur.fetchall()]


async def until(observer: psycopg.AsyncConnection[Any], expected: list[tuple[str, int]]) -> None:
    """Until exactly ``expected`` is waited for (fails after 30 s)."""
    seen: list[tuple[str, int]] = []
    for _ in range(600):
        if (seen := await waiting(observer)) == sorted(expected):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"waiting for {seen}, expected {sorted(expected)}")


async def test_people_run_side_by_side_and_the_same_person_waits(db: PgDatabase,
                                                                 observer: psycopg.AsyncConnection[Any]) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def hold(person_id: int) -> None:
        async with db.transaction(person_id=person_id) as conn:
            await conn.execute("INSERT INTO audit_log (at, actor_number, action, detail, address)"
                               " VALUES (1, ?, 'settings_changed', '{}', '')", (str(person_id),))
            inside.set()
            await release.wait()

    first = asyncio.create_task(hold(7))
    await inside.wait()
    assert await granted_person_locks(observer) == [7]

    # another person: commits while person 7's transaction is open
    async with db.transaction(person_id=8) as conn:
        await conn.execute("INSERT INTO audit_log (at, actor_number, action, detail, address)"
                           " VALUES (2, '8', 'settings_changed', '{}', '')")
    # the same person: waits for the first to end, holding nothing of its own
    inside.clear()
    second = asyncio.create_task(hold(7))
    await until(observer, [(PERSON, 7)])
    # a transaction of no particular person: waits for every person's transaction
    whole = asyncio.create_task(_exclusive(db))
    await until(observer, [(PERSON, 7), (SHARED, 0)])
    assert not first.done() and not second.done() and not whole.done()

    release.set()
    await asyncio.wait_for(asyncio.gather(first, second, whole), 30)
    rows = await db.fetch_all("SELECT actor_number FROM audit_log ORDER BY id")
    assert [r[0] for r in rows] == ["7", "8", "7", "whole"]


async def _exclusive(db: PgDatabase) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO audit_log (at, actor_number, action, detail, address)"
                           " VALUES (3, 'whole', 'settings_changed', '{}', '')")


async def test_the_write_lock_is_taken_before_the_person_lock(db: PgDatabase,
                                                              observer: psycopg.AsyncConnection[Any]) -> None:
    """A person's transaction queued behind an exclusive holder holds no person lock while it
    waits (the lock order that keeps two transactions from waiting for each other)."""
    await observer.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))
    task = asyncio.create_task(_in_person(db, 9))
    await until(observer, [(SHARED, 0)])
    assert await granted_person_locks(observer) == []
    await observer.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))
    await asyncio.wait_for(task, 30)


async def _in_person(db: PgDatabase, person_id: int) -> None:
    async with db.transaction(person_id=person_id) as conn:
        await conn.execute("SELECT 1")


async def test_revocation_versions_become_visible_in_order(db: PgDatabase,
                                                           observer: psycopg.AsyncConnection[Any]) -> None:
    """Two people's transactions both revoke: the second waits for the first's commit before it
    takes a version, so a node that has read version v never later finds a smaller one."""
    inside = asyncio.Event()
    release = asyncio.Event()

    async def revoke(person_id: int, subject: bytes, wait: bool) -> list[int]:
        async with db.transaction(person_id=person_id) as conn:
            versions = await Passes.revoke_unexpired_of_subject_in(conn, subject, "test", "system", 1_000)
            if wait:
                inside.set()
                await release.wait()
            return versions

    first = asyncio.create_task(revoke(1, b"a" * 16, True))
    await inside.wait()
    second = asyncio.create_task(revoke(2, b"b" * 16, False))
    await until(observer, [(ORDER, zlib.crc32(b"revocations"))])
    assert await Passes(db).revocation_version() == 0  # nothing committed yet, nothing to skip
    release.set()
    v1, v2 = await asyncio.wait_for(asyncio.gather(first, second), 30)
    assert max(v1) < min(v2)


async def test_two_people_creating_one_building_group_make_one(db: PgDatabase,
                                                               observer: psycopg.AsyncConnection[Any]) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def create(person_id: int, wait: bool) -> int:
        async with db.transaction(person_id=person_id) as conn:
            gid = await Buildings.ensure_group_in(conn, "dorm-new")
            if wait:
                inside.set()
                await release.wait()
            return gid

    first = asyncio.create_task(create(1, True))
    await inside.wait()
    second = asyncio.create_task(create(2, False))
    for _ in range(600):  # until its insert waits for the first's uncommitted row
        cur = await observer.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted")
        if (row := await cur.fetchone()) and row[0]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the second insert never waited for the first")
    release.set()
    a, b = await asyncio.wait_for(asyncio.gather(first, second), 30)
    assert a == b
    rows = await db.fetch_all("SELECT id FROM building_groups WHERE name = 'dorm-new'")
    assert [r[0] for r in rows] == [a]


async def test_check_ins_of_different_students_do_not_wait_for_each_other(
        login: Login, app: web.Application, observer: psycopg.AsyncConnection[Any]) -> None:
    """The 08:00 rush over HTTP: while S1's check-in waits for S1's lock (held here), S2's
    is answered; S1's is answered once the lock is free, each stored once."""
    s1, s2 = await login("S1"), await login("S2")
    people = People(app[state.SERVICES].db)
    p1, p2 = await people.by_number("S1"), await people.by_number("S2")
    assert p1 is not None and p2 is not None
    await observer.execute("SELECT pg_advisory_lock(%s, %s)", (PERSON_LOCK_CLASS, p1.id))
    blocked = asyncio.create_task(s1.post("/api/v1/checkins/today", json=checkin_body()))
    await until(observer, [(PERSON, p1.id)])
    r = await s2.post("/api/v1/checkins/today", json=checkin_body())
    assert r.status == 200, await r.text()
    assert not blocked.done()
    await observer.execute("SELECT pg_advisory_unlock(%s, %s)", (PERSON_LOCK_CLASS, p1.id))
    r1 = await asyncio.wait_for(blocked, 30)
    assert r1.status == 200, await r1.text()
    rows = await app[state.SERVICES].db.fetch_all(
        "SELECT person_id, revisions FROM checkins ORDER BY person_id")
    assert [tuple(r) for r in rows] == [(p1.id, 1), (p2.id, 1)]
