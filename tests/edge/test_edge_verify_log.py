"""``campuspass edge verify-log``: a good, a tampered and a damaged node database, read-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from campuspass.cli import main
from edge.config import NodeConfig
from edge.node import open_store
from shared.clock import FakeClock

from .helpers import Campus
from .test_edge_database_recovery import NOW, a_node_with_scans, damage_middle


def verify(config: NodeConfig, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["edge", "verify-log", "--config", str(config.base_dir / "node.toml")])
    out = capsys.readouterr().out.strip()
    assert "\n" not in out  # one line
    return code, out


def checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def tamper(db: Path, sql: str, *args: object) -> None:
    """Change the log as someone with the file would: the append-only triggers dropped first."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER scans_append_only")
    conn.execute("DROP TRIGGER scans_keep_unsynced")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


async def test_a_good_log_is_ok_and_left_untouched(
        config: NodeConfig, campus: Campus, clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    await a_node_with_scans(config, campus, clock, 25)
    checkpoint(config.db_path)
    before = config.db_path.read_bytes()
    code, out = verify(config, capsys)
    assert code == 0
    assert out == (f"{config.db_path}: OK: 25 records, seq 1..25, epoch 0 (+0 earlier kept aside), "
                   "0 gaps, 0 altered, integrity ok")
    assert config.db_path.read_bytes() == before  # read-only


async def test_retention_and_a_new_epoch_after_damage_are_not_breaks(
        config: NodeConfig, campus: Campus, clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    await a_node_with_scans(config, campus, clock, 10)
    store = await open_store(config, clock=clock)
    try:
        await store.mark_synced(6)
        assert await store.purge_synced(0, int(clock.now().timestamp() * 1000) + 1000) == 6  # seq 1..6 removed by retention
    finally:
        await store.close()
    code, out = verify(config, capsys)
    assert code == 0 and ": OK: 4 records, seq 7..10, epoch 0 " in out

    damage_middle(config.db_path)
    store = await open_store(config, clock=FakeClock(NOW))  # moved aside, a new epoch begins
    await store.close()
    await a_node_with_scans(config, campus, clock, 3)
    code, out = verify(config, capsys)
    assert code == 0
    assert f": OK: 3 records, seq 1..3, epoch {int(NOW.timestamp())} (+1 earlier kept aside), 0 gaps" in out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("UPDATE scans SET verdict = 'deny', reason = 'revoked' WHERE seq = ?", 7),
         "0 gaps, 1 altered (bad_hash at seq 7)"),
        (("DELETE FROM scans WHERE seq = ?", 12), "1 gaps, 0 altered (gap at seq 13)"),
        (("UPDATE scans SET prev_hash = hash WHERE seq = ?", 3), "0 gaps, 2 altered (bad_link at seq 3, bad_hash at seq 3)"),
    ],
    ids=["altered", "deleted", "relinked"],
)
async def test_a_tampered_log_is_broken(
        config: NodeConfig, campus: Campus, clock: FakeClock, capsys: pytest.CaptureFixture[str],
        change: tuple[str, int], expected: str) -> None:
    await a_node_with_scans(config, campus, clock, 20)
    tamper(config.db_path, *change)
    code, out = verify(config, capsys)
    assert code == 1
    assert ": BROKEN: " in out and expected in out and "integrity ok" in out


@pytest.mark.parametrize("damage", ["middle", "truncated", "empty", "missing"])
async def test_a_damaged_database_is_broken_and_not_moved(
        config: NodeConfig, campus: Campus, clock: FakeClock, capsys: pytest.CaptureFixture[str],
        damage: str) -> None:
    await a_node_with_scans(config, campus, clock, 300)
    db = config.db_path
    checkpoint(db)
    if damage == "middle":
        damage_middle(db)
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    elif damage == "empty":
        db.write_bytes(b"")
    else:
        db.unlink()
    kept = db.read_bytes() if db.exists() else None
    code, out = verify(config, capsys)
    assert code == 1 and ": BROKEN: " in out
    assert {"middle": "integrity FAILED", "truncated": "", "empty": "empty (0 bytes)",
            "missing": "no database file"}[damage] in out
    assert (db.read_bytes() if db.exists() else None) == kept  # never moved aside or repaired
    assert not list(db.parent.glob("node.db.damaged-*"))
