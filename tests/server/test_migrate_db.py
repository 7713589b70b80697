"""`campuspass server migrate-db` copies a campus's SQLite database into PostgreSQL, verifies each
table's row count and checksum, and can run again (only what changed is written; new rows made on
PostgreSQL afterwards get fresh ids). Real SQLite file, real PostgreSQL server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from campuspass.cli import main
from provisioning.init import init_data_dir
from server.datadir import DataDir
from server.storage import open_database
from server.storage.buildings import Buildings
from server.storage.nodes import Nodes
from server.storage.passes import Passes
from server.storage.people import NewPerson, People
from server.storage.sms import SmsOutboxStore
from shared.clock import SystemClock, to_unix
from tests.pg import PgCluster

NOW_S = to_unix(SystemClock().now())


def person(number: str, name: str = "") -> NewPerson:
    return NewPerson(number, name or f"Person {number}", "student", "CS", None, None, "x", secrets.token_bytes(8))


async def fill(datadir: DataDir) -> None:
    """People, a building and a node (bytes), revocations, SMS with Chinese text, in SQLite."""
    db = await datadir.open_database()
    try:
        async with db.transaction() as conn:
            await People.upsert_department(conn, "CS", "计算机学院")
            for i in range(2500):  # more than one batch
                await People.upsert(conn, person(f"2021{i:04d}"), NOW_S)
            await SmsOutboxStore.enqueue(conn, message_id="m1", phone="13800138000", body="您的验证码 123456",
                                         purpose="test", now_s=NOW_S)
        await Buildings(db).add_building("LIB", "图书馆", "main")
        await Nodes(db).register("lib-1", building="LIB", public_key=bytes(range(32)), now_s=NOW_S)
        await Passes(db).revoke_serial(b"\x00\x01\x02\x03\x04\x05\x06\x07", NOW_S + 3600, "lost", "admin", NOW_S)
    finally:
        await db.close()


@pytest.fixture
def target(pg_cluster: PgCluster) -> Iterator[str]:
    """An empty PostgreSQL database (no migrations: migrate-db applies them)."""
    url = pg_cluster.create_database(empty=True)
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


def migrate(datadir: DataDir, url: str) -> tuple[int, str, str]:
    return main(["server", "migrate-db", "--from", f"sqlite://{datadir.db_path}", "--to", url]), "", ""


def test_copy_verify_rerun_and_continue_on_postgresql(tmp_path: Path, target: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    datadir = init_data_dir(tmp_path / "data", SystemClock(), admin="admin").datadir
    asyncio.run(fill(datadir))
    source = f"sqlite://{datadir.db_path}"

    assert main(["server", "migrate-db", "--from", source, "--to", target]) == 0
    out = capsys.readouterr().out
    assert "people: 2501 rows in SQLite, 2501 in PostgreSQL, 2501 written, checksum ok" in out
    assert "revocations: 1 rows in SQLite, 1 in PostgreSQL, 1 written, checksum ok" in out
    assert "every table copied and verified" in out

    assert main(["server", "migrate-db", "--from", source, "--to", target]) == 0  # again: nothing to write
    out = capsys.readouterr().out
    assert "people: 2501 rows in SQLite, 2501 in PostgreSQL, 0 written, checksum ok" in out

    async def change_source() -> None:
        db = await datadir.open_database()
        try:
            async with db.transaction() as conn:
                await People.upsert(conn, person("20210001", "改过的名字"), NOW_S)
                await People.upsert(conn, person("2022NEW"), NOW_S)
        finally:
            await db.close()

    asyncio.run(change_source())
    assert main(["server", "migrate-db", "--from", source, "--to", target]) == 0
    out = capsys.readouterr().out
    assert "people: 2502 rows in SQLite, 2502 in PostgreSQL, 2 written, checksum ok" in out

    async def continue_on_postgresql() -> None:
        db = await open_database(target, tmp_path / "unused.db")
        try:
            async with db.transaction() as conn:
                assert await People.upsert(conn, person("2023AFTER"), NOW_S)  # a fresh id, no clash
            people = People(db)
            renamed = await people.by_number("20210001")
            assert renamed is not None and renamed.name == "改过的名字"
            node = await Nodes(db).get("lib-1")
            assert node is not None and node.public_key == bytes(range(32))
        finally:
            await db.close()

    asyncio.run(continue_on_postgresql())


def test_a_different_target_is_reported_and_bad_urls_refused(tmp_path: Path, target: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    datadir = init_data_dir(tmp_path / "data", SystemClock(), admin=None).datadir
    source = f"sqlite://{datadir.db_path}"
    assert main(["server", "migrate-db", "--from", source, "--to", target]) == 0
    capsys.readouterr()

    async def drift() -> None:  # a row only PostgreSQL has: the counts differ
        db = await open_database(target, tmp_path / "unused.db")
        try:
            async with db.transaction() as conn:
                await People.upsert_department(conn, "XX", "only here")
        finally:
            await db.close()

    asyncio.run(drift())
    assert main(["server", "migrate-db", "--from", source, "--to", target]) == 1
    captured = capsys.readouterr()
    assert "departments: 0 rows in SQLite, 1 in PostgreSQL, 0 written, checksum DIFFERS" in captured.out
    assert "1 table(s) differ" in captured.err

    assert main(["server", "migrate-db", "--from", "mysql://x/y", "--to", target]) == 2
    assert "--from mysql://x/y; expected sqlite:///path/to/campuspass.db" in capsys.readouterr().err
    assert main(["server", "migrate-db", "--from", source, "--to", "sqlite:///x.db"]) == 2
    assert "--to sqlite:///x.db; expected postgresql://" in capsys.readouterr().err
    assert main(["server", "migrate-db", "--from", f"sqlite://{tmp_path}/missing.db", "--to", target]) == 2
    assert "no such file" in capsys.readouterr().err
