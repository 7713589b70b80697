"""``campuspass server backup`` / ``restore``: round trip, refusal cases, a backup during writes."""

from __future__ import annotations

import asyncio
import io
import json
import stat
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from campuspass.cli import main
from provisioning.init import InitResult
from server.app import create_app
from server.backup import backup_data_dir, restore_data_dir
from server.datadir import DataDir, DataDirError
from server.passes import check_online
from server.storage import Database
from server.storage.backup import integrity_check, table_row_counts
from server.storage.buildings import Buildings
from server.storage.passes import Passes
from shared.clock import FakeClock, to_unix
from shared.decision import Reason
from shared.pass_format import decode_pass

from .helpers import issue

TABLES = ("building_groups", "buildings", "passes", "revocations", "settings")


async def _fill(dd: DataDir, clock: FakeClock) -> tuple[str, str]:
    """Two buildings, two passes, one of them revoked. Returns (good pass, revoked pass)."""
    db = await Database.open(dd.db_path)
    try:
        await Buildings(db).add_building("LIB", "Main Library", "teaching")
        await Buildings(db).add_building("D7", "Dormitory 7", "dorm")
    finally:
        await db.close()
    good = await issue(dd, clock.now())
    revoked = await issue(dd, clock.now())
    fields = decode_pass(revoked).fields
    db = await Database.open(dd.db_path)
    try:
        await Passes(db).revoke_serial(fields.serial, fields.valid_until_s, "lost phone", "test", to_unix(clock.now()))
    finally:
        await db.close()
    return good, revoked


async def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = await Database.open(path, migrate=False)
    try:
        return {t: [tuple(r) for r in await db.fetch_all(f"SELECT * FROM {t} ORDER BY 1")] for t in TABLES}
    finally:
        await db.close()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "campuspass.db"
            and not p.name.startswith("campuspass.db-")}


def test_backup_and_restore_round_trip_serves_the_same_data(
    dd: DataDir, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, revoked = asyncio.run(_fill(dd, clock))
    dd.sms_outbox_path.write_text('{"to": "+8613800000000", "text": "code 123456"}\n')
    archive = tmp_path / "backup.tar.gz"
    assert main(["server", "backup", "--data", str(dd.root), "--out", str(archive)]) == 0
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert "passes 2" in capsys.readouterr().out

    restored = tmp_path / "elsewhere" / "data"
    assert main(["server", "restore", "--data", str(restored), str(archive)]) == 0
    assert "revocations 1" in capsys.readouterr().out

    new = DataDir(restored)
    assert asyncio.run(_rows(new.db_path)) == asyncio.run(_rows(dd.db_path))
    assert _files(new.root) == _files(dd.root)  # keys, trust files and server.toml byte for byte
    assert stat.S_IMODE(new.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(new.keys_dir.stat().st_mode) == 0o700
    for key in new.keys_dir.iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name

    async def verdicts() -> tuple[Reason, Reason, Reason]:
        db = await Database.open(new.db_path)  # the server's own open: migrates, WAL
        try:
            passes, buildings = Passes(db), Buildings(db)
            ok = await check_online(new, passes, buildings, good, clock.now())
            gone = await check_online(new, passes, buildings, revoked, clock.now())
            where = await check_online(new, passes, buildings, good, clock.now(), building="D7")
            return ok.reason, gone.reason, where.reason
        finally:
            await db.close()

    assert asyncio.run(verdicts()) == (Reason.ACCEPTED, Reason.REVOKED, Reason.ACCEPTED)
    assert new.current_signer(clock.now()).key_id == dd.current_signer(clock.now()).key_id


def test_restore_refuses_a_non_empty_target(dd: DataDir, clock: FakeClock, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "backup.tar.gz"
    assert main(["server", "backup", "--data", str(dd.root), "--out", str(archive)]) == 0
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    assert main(["server", "restore", "--data", str(target), str(archive)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    # An existing empty folder is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["server", "restore", "--data", str(empty), str(archive)]) == 0
    assert DataDir(empty).trust_bundle().version == 1


def test_backup_refuses_to_overwrite(dd: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "backup.tar.gz"
    archive.write_bytes(b"older backup")
    assert main(["server", "backup", "--data", str(dd.root), "--out", str(archive)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert archive.read_bytes() == b"older backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".campuspass")] == []


def _rewrite(archive: Path, out: Path, change: dict[str, bytes | None], extra: dict[str, bytes] | None = None) -> None:
    """Copy a backup, replacing (bytes) or removing (None) members, adding ``extra`` ones."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name in change:
                data = change[member.name]
                if data is None:
                    continue
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("change", "extra", "why"),
    [
        ({"trust/root.pub": b"AAAA\n"}, None, "checksum"),
        ({"campuspass.db": None}, None, "do not match the manifest"),
        ({}, {"../escape.txt": b"x"}, "unexpected member"),
        ({}, {"/etc/cron.d/x": b"x"}, "unexpected member"),
        ({"manifest.json": b"[]"}, None, "format"),
        ({}, {"keys": b"x"}, "must be a folder"),
    ],
)
def test_restore_refuses_damaged_or_foreign_archives(
    dd: DataDir, tmp_path: Path, change: dict[str, bytes | None], extra: dict[str, bytes] | None, why: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "backup.tar.gz"
    assert main(["server", "backup", "--data", str(dd.root), "--out", str(archive)]) == 0
    damaged = tmp_path / "damaged.tar.gz"
    _rewrite(archive, damaged, change, extra)
    target = tmp_path / "restored"
    assert main(["server", "restore", "--data", str(target), str(damaged)]) == 1
    err = capsys.readouterr().err
    assert why in err and "[bad_backup]" in err
    assert not target.exists() and not (tmp_path / "escape.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".campuspass")] == []


def test_restore_of_a_file_that_is_not_a_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file at all")
    assert main(["server", "restore", "--data", str(tmp_path / "new"), str(junk)]) == 1
    assert "[bad_backup]" in capsys.readouterr().err


async def test_backup_while_the_server_writes_is_consistent(dd: DataDir, clock: FakeClock, tmp_path: Path) -> None:
    """A writer keeps committing transactions of two rows each while the backup runs; the copy
    holds whole transactions only and passes SQLite's integrity check."""
    server_db = await Database.open(dd.db_path)
    buildings = Buildings(server_db)
    stop = asyncio.Event()

    async def writer() -> int:
        n = 0
        while not stop.is_set():
            async with server_db.transaction() as conn:
                await conn.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (f"a{n}", "1"))
                await conn.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (f"b{n}", "1"))
            n += 1
            await asyncio.sleep(0)
        return n

    task = asyncio.create_task(writer())
    await buildings.add_building("LIB", "Main Library", "teaching")
    try:
        await asyncio.sleep(0.05)
        result = await backup_data_dir(dd, tmp_path / "live.tar.gz", clock.now())
    finally:
        stop.set()
        written = await task
        await server_db.close()
    assert written > 0

    restored = await restore_data_dir(tmp_path / "live.tar.gz", tmp_path / "restored")
    db = await Database.open(restored.datadir.db_path, migrate=False)
    try:
        assert await integrity_check(db) == []
        names = {str(r[0]) for r in await db.fetch_all("SELECT name FROM settings")}
        counts = await table_row_counts(db)
    finally:
        await db.close()
    a_rows = {n[1:] for n in names if n.startswith("a")}
    b_rows = {n[1:] for n in names if n.startswith("b")}
    assert a_rows == b_rows  # never half a transaction
    assert counts == result.tables == restored.tables
    manifest = json.loads(tarfile.open(tmp_path / "live.tar.gz").extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["tables"]["settings"] == counts["settings"]


async def test_restore_into_a_missing_archive_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="does not exist"):
        await restore_data_dir(tmp_path / "nope.tar.gz", tmp_path / "new")


async def test_restored_directory_serves_the_same_accounts_over_http(
    init_result: InitResult, clock: FakeClock, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    """The server app started on the restored directory logs the first admin in with the password
    set before the backup (the app factory and a loopback HTTP server, nothing mocked)."""
    assert init_result.admin_number and init_result.admin_password
    await backup_data_dir(init_result.datadir, tmp_path / "b.tar.gz", clock.now())
    restored = await restore_data_dir(tmp_path / "b.tar.gz", tmp_path / "restored")
    client = await aiohttp_client(create_app(restored.datadir, clock=clock, run_sms_sender=False, run_jobs=False))

    wrong = await client.post("/api/v1/auth/login",
                              json={"username": init_result.admin_number, "password": "not-the-password"})
    assert wrong.status == 401
    login = await client.post("/api/v1/auth/login",
                              json={"username": init_result.admin_number, "password": init_result.admin_password})
    assert login.status == 200, await login.text()
    me = await client.get("/api/v1/me")
    assert me.status == 200 and init_result.admin_number in await me.text()
