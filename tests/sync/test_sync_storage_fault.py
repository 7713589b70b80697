"""A running node with sync on a disk that fills up and empties again: the sync task survives the
failed writes (it used to die on the first one), every decision reaches the server exactly once,
and the heartbeat carries the fault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.bundle import read_bundle, read_root_public
from edge.camera import DirCamera
from edge.node import Node
from edge.store import NodeStore
from edge.sync import SyncClient
from server.web import state
from shared.clock import FakeClock
from tests.faults import FullDisk

from .helpers import LoopbackServer, enrol_node, green_pass


async def eventually(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_sync_survives_a_full_disk_and_uploads_held_decisions_exactly_once(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock, disk: FullDisk) -> None:
    enrolled = await enrol_node(server, tmp_path / "node")
    cfg = enrolled.config
    cfg = replace(cfg, node=replace(cfg.node, data_dir=str(disk.folder / "data")),
                  storage=replace(cfg.storage, retry_s=0.05, reserve_bytes=256 * 1024))
    store = await NodeStore.open(cfg.db_path, read_root_public(cfg.path(cfg.files.root_pub)),
                                 reserve_bytes=cfg.storage.reserve_bytes, connect=disk.connect)
    await store.seed(read_bundle(cfg))
    clients: list[SyncClient] = []

    def factory(node: Node) -> SyncClient:
        client = SyncClient(node.store, node.config, enrolled.key, clock=node.clock, on_online=node.set_online,
                            health=lambda: {"camera": "ok"})
        clients.append(client)
        return client

    node = Node(cfg, store, pin_factory=MockFactory(), clock=clock, sync_factory=factory,
                camera=DirCamera(tmp_path / "incoming"))
    texts = [(await green_pass(server, server.groups["dorms"]))[0] for _ in range(4)]  # type: ignore[attr-defined]
    task = asyncio.create_task(node.run(handle_signals=False))
    decided = 0

    async def decide() -> None:
        nonlocal decided
        clock.advance(6)  # a new sighting each time
        [j] = node.judge([texts[decided % 4]], clock.monotonic())
        assert (await node.commit(j)).verdict.accepted
        decided += 1

    try:
        await decide()
        await eventually(lambda: node.is_online())
        await disk.fill()
        for _ in range(3000):
            await decide()
            if store.health.state == "fault":
                break
        for _ in range(5):
            await decide()
        await asyncio.sleep(0.4)  # several sync rounds and write-back attempts against the full disk
        assert node.tasks.running("sync") and node.tasks.health["sync"].restarts == 0
        assert node.tasks.running("writer") and node.tasks.running("storage")
        assert store.health.state == "fault"
        db = server.app[state.SERVICES].db
        row = await db.fetch_one("SELECT heartbeat FROM nodes WHERE id = ?", (cfg.node.id,))
        assert row is not None and json.loads(row[0])["storage"] == "fault"
        await disk.free()
        await eventually(lambda: store.health.state == "ok")
        for _ in range(3):
            await decide()
        clients[0].wake.set()

        async def all_synced() -> bool:
            return (await store.stats()).unsynced == 0

        for _ in range(750):
            if await all_synced():
                break
            await asyncio.sleep(0.02)
        assert await all_synced()
        assert await server.scan_count(cfg.node.id) == decided
        rows = await db.fetch_all("SELECT seq, COUNT(*) FROM scans WHERE node_id = ? GROUP BY seq", (cfg.node.id,))
        assert sorted(r[0] for r in rows) == list(range(1, decided + 1)) and all(r[1] == 1 for r in rows)
        anomalies = await db.fetch_all("SELECT kind FROM node_anomalies WHERE node_id = ?", (cfg.node.id,))
        assert [a for a in anomalies if a[0] in ("chain_gap", "bad_link", "bad_hash")] == []
    finally:
        node.stop()
        await task
        await store.close()
