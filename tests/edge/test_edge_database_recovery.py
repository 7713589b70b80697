"""A damaged, truncated, empty or missing node database: moved aside under a dated name (never
deleted), a fresh one seeded from the bundle, a new chain epoch started; and numbered schema
migrations that keep an older node's unsynced scans."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.config import NodeConfig
from edge.node import Node, open_store
from edge.recovery import damage_flag, read_epoch
from edge.store import SCHEMA_VERSION, StoreError
from shared.clock import FakeClock
from shared.scanlog import verify_chain

from .helpers import Campus

NOW = datetime(2026, 12, 5, 3, 15, tzinfo=UTC)


async def a_node_with_scans(config: NodeConfig, campus: Campus, clock: FakeClock, n: int) -> None:
    store = await open_store(config, clock=clock)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        for _ in range(n):
            [j] = node.judge([campus.pass_text()], clock.monotonic())
            await node.commit(j)
            clock.advance(1)
    finally:
        node.outputs.close()
        await store.close()


async def reopen(config: NodeConfig) -> tuple[list[str], int, int, object]:
    store = await open_store(config, clock=FakeClock(NOW))
    try:
        return sorted(p.name for p in config.data_dir.iterdir()), store.epoch, (await store.stats()).last_seq, \
            store.recovery
    finally:
        await store.close()


def damage_middle(path: Path) -> None:
    """Overwrite pages in the middle of the file (not the header) with garbage."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(os.urandom(8192))


@pytest.mark.parametrize("damage", ["not_sqlite", "truncated", "middle", "empty"])
async def test_a_bad_database_is_moved_aside_and_a_new_epoch_begins(
        config: NodeConfig, campus: Campus, clock: FakeClock, damage: str) -> None:
    await a_node_with_scans(config, campus, clock, 300)
    db = config.db_path
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    original = db.read_bytes()
    if damage == "not_sqlite":
        db.write_bytes(b"this is not SQLite" * 64)
    elif damage == "truncated":
        db.write_bytes(original[: len(original) // 3])
    elif damage == "middle":
        damage_middle(db)
    else:
        db.write_bytes(b"")
    kept = db.read_bytes()
    files, epoch, last_seq, recovery = await reopen(config)
    assert "node.db.damaged-20261205T031500Z" in files  # kept for forensics, byte for byte
    assert (config.data_dir / "node.db.damaged-20261205T031500Z").read_bytes() == kept
    assert recovery is not None and recovery.reason == ("empty" if damage == "empty" else "damaged")  # type: ignore[attr-defined]
    assert epoch == int(NOW.timestamp()) and read_epoch(config.data_dir) == epoch
    assert last_seq == 0  # a new chain: its first record is seq 1 of the new epoch
    store = await open_store(config, clock=clock)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        [j] = node.judge([campus.pass_text()], clock.monotonic())
        d = await node.commit(j)
        assert (d.record.seq, d.record.epoch, d.verdict.accepted) == (1, epoch, True)
        assert "epoch" in d.record.to_json() and verify_chain([d.record.to_json()], None, 0) == []
        assert store.recovery is None  # the second start finds a sound database
    finally:
        node.outputs.close()
        await store.close()


async def test_a_missing_database_in_a_used_data_folder_starts_a_new_epoch(
        config: NodeConfig, campus: Campus, clock: FakeClock) -> None:
    await a_node_with_scans(config, campus, clock, 3)
    assert read_epoch(config.data_dir) == 0
    for suffix in ("", "-wal", "-shm"):
        config.db_path.with_name("node.db" + suffix).unlink(missing_ok=True)
    _files, epoch, last_seq, recovery = await reopen(config)
    assert recovery is not None and recovery.reason == "missing" and epoch == int(NOW.timestamp())  # type: ignore[attr-defined]
    assert last_seq == 0


async def test_damage_found_by_the_scheduled_check_is_handled_at_the_next_start(
        config: NodeConfig, campus: Campus, clock: FakeClock) -> None:
    await a_node_with_scans(config, campus, clock, 2)
    damage_flag(config.db_path).write_text("integrity_check: row 3 missing from index\n")
    _files, epoch, _last, recovery = await reopen(config)
    # The full check passes on this intact file: it is kept in use, and the flag is cleared.
    assert recovery is None and epoch == 0 and not damage_flag(config.db_path).exists()


async def test_an_older_database_is_migrated_and_keeps_its_unsynced_scans(
        config: NodeConfig, campus: Campus, clock: FakeClock) -> None:
    await a_node_with_scans(config, campus, clock, 5)
    store = await open_store(config, clock=clock)
    before = [r.to_json() for r in await store.unsynced()]
    await store.close()
    # Turn the file back into the first released schema (as a node of that version left it).
    conn = sqlite3.connect(config.db_path)
    conn.executescript("""
        DROP TRIGGER scans_append_only;
        CREATE TABLE scans_v1 AS SELECT seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject,
            text_sha256, verdict, reason, direction, prev_hash, hash, synced FROM scans;
        DROP TABLE scans;
        PRAGMA user_version = 0;
    """)
    initial = resources.files("edge.migrations").joinpath("0001_initial.sql").read_text()
    conn.executescript(initial)
    conn.execute("INSERT INTO scans SELECT * FROM scans_v1")
    conn.execute("DROP TABLE scans_v1")
    conn.commit()
    assert [c[1] for c in conn.execute("PRAGMA table_info(scans)")][-1] == "synced"
    conn.close()
    store = await open_store(config, clock=clock)
    try:
        assert [r.to_json() for r in await store.unsynced()] == before
        assert await store.check_integrity() == []
    finally:
        await store.close()
    conn = sqlite3.connect(config.db_path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


async def test_a_database_from_a_newer_version_is_refused_not_moved(config: NodeConfig, clock: FakeClock) -> None:
    store = await open_store(config, clock=clock)
    await store.close()
    conn = sqlite3.connect(config.db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError) as err:
        await open_store(config, clock=clock)
    assert err.value.code == "newer_database"
    assert not any(p.name.startswith("node.db.damaged") for p in config.data_dir.iterdir())

