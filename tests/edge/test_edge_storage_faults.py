"""The door node on a full disk: it keeps deciding, holds decisions in a bounded chained memory
queue, shows and reports a storage fault, and writes everything back in order when space returns.

As root the data folder is a real, small tmpfs filled with a file (``tests/faults.py``);
otherwise SQLite's page-count limit stands in for it through the store's ``connect`` seam.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from gpiozero.pins.mock import MockFactory

from edge.bundle import read_bundle, read_root_public
from edge.config import NodeConfig, StorageConfig
from edge.node import Node
from edge.outputs import Indication, NodeStatus
from edge.status import make_status_app
from edge.store import NodeStore, StoreError
from shared.clock import FakeClock
from shared.pass_format import PassStatus
from tests.faults import FullDisk

from .helpers import Campus, make_bundle_dir

RELAY = 23


def meta_value(db_path: Path, key: str) -> str | None:
    """A value of the node database's ``meta`` table, read directly (None: no such key)."""
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def on_disk(tmp_path: Path, campus: Campus, disk: FullDisk, **storage: object) -> NodeConfig:
    cfg = make_bundle_dir(tmp_path / "node", campus, node={"data_dir": str(disk.folder / "data")})
    return replace(cfg, storage=replace(cfg.storage, reserve_bytes=256 * 1024, **storage))  # type: ignore[arg-type]


async def open_on(cfg: NodeConfig, disk: FullDisk, storage: StorageConfig | None = None) -> NodeStore:
    s = storage or cfg.storage
    store = await NodeStore.open(cfg.db_path, read_root_public(cfg.path(cfg.files.root_pub)),
                                 reserve_bytes=s.reserve_bytes, queue_max=s.queue_max, connect=disk.connect)
    await store.seed(read_bundle(cfg))
    return store


@pytest.fixture
async def full_node(tmp_path: Path, campus: Campus, clock: FakeClock, disk: FullDisk
                    ) -> AsyncIterator[tuple[Node, MockFactory]]:
    cfg = on_disk(tmp_path, campus, disk, queue_max=20)
    store = await open_on(cfg, disk)
    factory = MockFactory()
    node = Node(cfg, store, pin_factory=factory, clock=clock)
    try:
        yield node, factory
    finally:
        node.outputs.close()
        await store.close()


async def scan(node: Node, clock: FakeClock, text: str) -> Indication:
    [j] = node.judge([text], clock.monotonic())
    decision = await node.commit(j)
    clock.advance(0.5)
    return decision.indication


async def until_fault(node: Node, clock: FakeClock, campus: Campus) -> list[Indication]:
    """Scan fresh valid passes until one cannot be written (a disk full for a page)."""
    shown = []
    for _ in range(3000):
        shown.append(await scan(node, clock, campus.pass_text()))
        if node.store.health.state == "fault":
            return shown
    raise AssertionError("the full disk never refused a write")


def stored(cfg: NodeConfig) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(cfg.db_path)
    try:
        return conn.execute("SELECT seq, prev_hash, hash FROM scans ORDER BY seq").fetchall()
    finally:
        conn.close()


async def test_full_disk_keeps_admitting_valid_passes_and_writes_them_back_in_order(
    full_node: tuple[Node, MockFactory], campus: Campus, clock: FakeClock, disk: FullDisk, aiohttp_client
) -> None:
    node, factory = full_node
    client: TestClient = await aiohttp_client(make_status_app(node))
    await disk.fill()
    shown = await until_fault(node, clock, campus)
    # The pass whose record could not be written still opened the door (the old node showed red).
    assert shown[-1] is Indication.ACCEPT and factory.pin(RELAY).state
    assert node.store.pending == 1 and node.wanted_status() is NodeStatus.STORAGE_FAULT
    for _ in range(4):
        assert await scan(node, clock, campus.pass_text()) is Indication.ACCEPT
    assert node.store.pending == 5
    node.refresh_status()
    assert node.outputs.status is NodeStatus.STORAGE_FAULT
    health = await client.get("/healthz")
    assert health.status == 503 and (await health.json())["storage"] == "fault"
    body = await (await client.get("/status")).json()
    assert body["status"] == "storage_fault"
    assert body["storage"]["state"] == "fault" and body["storage"]["kind"] == "disk_full"
    assert body["storage"]["queued"] == 5 and body["unsynced"] == len(shown) + 4
    if disk.real:  # the reserve was given up so the fault itself could be written
        assert not node.store.reserve.in_place
    await disk.free()
    assert await node.store.write_back()
    assert node.store.health.state == "ok" and node.store.pending == 0 and node.store.reserve.in_place
    assert node.store.health.written_back == 5
    node.refresh_status()
    assert node.outputs.status is NodeStatus.OFFLINE
    assert (await client.get("/healthz")).status == 200
    assert await node.store.check_integrity() == []
    rows = stored(node.config)
    assert [r[0] for r in rows] == list(range(1, len(shown) + 5))
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
    assert meta_value(node.config.db_path, "storage_faults") == "1"


async def test_full_queue_denies_and_counts_every_unrecorded_scan(
    tmp_path: Path, campus: Campus, clock: FakeClock, disk: FullDisk
) -> None:
    cfg = on_disk(tmp_path, campus, disk, queue_max=10)
    store = await open_on(cfg, disk)
    factory = MockFactory()
    node = Node(cfg, store, pin_factory=factory, clock=clock)
    try:
        await disk.fill()
        await until_fault(node, clock, campus)
        while store.pending < 10:
            await scan(node, clock, campus.pass_text())
        clock.advance(5)  # the last accept pulse is over
        node.tick()
        with pytest.raises(StoreError) as err:
            await scan(node, clock, campus.pass_text())
        assert err.value.code == "log_queue_full"
        assert not factory.pin(RELAY).state  # fail-secure: nothing unlocks what cannot be recorded
        assert node.outputs.state()["showing"] == "invalid"
        assert store.health.dropped == 1 and store.pending == 10
        await disk.free()
        assert await store.write_back()
    finally:
        node.outputs.close()
        await store.close()
    assert meta_value(cfg.db_path, "dropped_decisions") == "1"


async def test_other_writes_on_a_full_disk_raise_storage_fault_not_sqlite_errors(
    tmp_path: Path, campus: Campus, clock: FakeClock, disk: FullDisk
) -> None:
    cfg = on_disk(tmp_path, campus, disk)
    store = await open_on(cfg, disk)
    node = Node(cfg, store, pin_factory=MockFactory(), clock=clock)
    try:
        await disk.fill()
        await until_fault(node, clock, campus)
        await disk.free()
        assert await store.write_back()
        await disk.fill()
        # Sync's writes meet the same disk: a StoreError the sync client retries, not a crash.
        with pytest.raises(StoreError) as err:
            for _ in range(5000):
                await store.record_clock_offset(1.5, 10**9)
                await store.mark_synced(10**6)
                await store.raise_time_floor(store.time_floor_s + 1)
                await store.apply_revocation_delta(campus.revoke_serial(os.urandom(8)))
        assert err.value.code == "storage_fault"
        assert store.health.state == "fault"
    finally:
        node.outputs.close()
        await store.close()


async def test_read_only_filesystem_keeps_the_door_deciding_and_writes_back_when_writable(
    full_node: tuple[Node, MockFactory], campus: Campus, clock: FakeClock, disk: FullDisk, aiohttp_client
) -> None:
    """The filesystem under the node database turns read-only (the kernel's answer to SD card I/O
    errors): valid passes still open the door, the decisions wait in the chained queue, the fault
    is reported as ``read_only``, and all of it is written in order once the disk is writable."""
    node, factory = full_node
    client: TestClient = await aiohttp_client(make_status_app(node))
    assert await scan(node, clock, campus.pass_text()) is Indication.ACCEPT  # written normally
    await disk.read_only()
    for _ in range(3):
        assert await scan(node, clock, campus.pass_text()) is Indication.ACCEPT
        assert factory.pin(RELAY).state
    assert node.store.health.state == "fault" and node.store.health.kind == "read_only"
    assert node.store.pending == 3
    node.refresh_status()
    assert node.outputs.status is NodeStatus.STORAGE_FAULT
    health = await client.get("/healthz")
    assert health.status == 503 and (await health.json())["storage"] == "fault"
    await disk.writable()
    assert await node.store.write_back()
    assert node.store.health.state == "ok" and node.store.pending == 0
    assert await node.store.check_integrity() == []
    rows = stored(node.config)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))


async def test_a_node_started_on_a_read_only_filesystem_decides_and_writes_back_once_writable(
    tmp_path: Path, campus: Campus, clock: FakeClock, disk: FullDisk
) -> None:
    """The data folder's filesystem is read-only at start (fsck remounted it after I/O errors; the
    old node exited with ``bad_database`` and systemd restarted it into the same failure, door
    locked): the node opens its database read-only, decides from the trust data it holds, holds
    decisions in the chained queue and reports ``read_only``; once the filesystem takes writes
    again the database is reopened read-write and the queue written in order."""
    cfg = on_disk(tmp_path, campus, disk)
    store = await open_on(cfg, disk)
    node = Node(cfg, store, pin_factory=MockFactory(), clock=clock)
    assert await scan(node, clock, campus.pass_text()) is Indication.ACCEPT
    node.outputs.close()
    await store.close()
    disk.set_read_only_at_rest(True)
    try:
        store = await NodeStore.open(cfg.db_path, read_root_public(cfg.path(cfg.files.root_pub)),
                                     reserve_bytes=cfg.storage.reserve_bytes, connect=disk.connect)
        node = Node(cfg, store, pin_factory=MockFactory(), clock=clock)
        try:
            assert store.health.state == "fault" and store.health.kind == "read_only"
            node.refresh_status()
            assert node.outputs.status is NodeStatus.STORAGE_FAULT
            assert await scan(node, clock, campus.pass_text()) is Indication.ACCEPT
            assert await scan(node, clock, campus.pass_text(status=PassStatus.BLACK)) is Indication.NOT_CLEARED
            assert store.pending == 2
            assert not await store.write_back()  # still read-only
        finally:
            disk.set_read_only_at_rest(False)
        assert await store.write_back()
        assert store.health.state == "ok" and store.pending == 0
        assert await store.check_integrity() == []
    finally:
        node.outputs.close()
        await store.close()
    rows = stored(cfg)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
