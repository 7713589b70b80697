"""The door node and its sync client together: revocations reach the door, and an outage never
slows a decision (docs/architecture.md §7-§8)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.node import Node
from edge.sync import SyncClient
from server.storage.passes import Passes
from server.web import state
from shared.clock import FakeClock, to_unix

from .helpers import LoopbackServer, enrol_node, green_pass, open_node_store


def _node(enrolled, store, clock: FakeClock, clients: list[SyncClient]) -> Node:  # type: ignore[no-untyped-def]
    def factory(node: Node) -> SyncClient:
        client = SyncClient(node.store, node.config, enrolled.key, clock=node.clock, on_online=node.set_online)
        clients.append(client)
        return client

    return Node(enrolled.config, store, pin_factory=MockFactory(), clock=clock, sync_factory=factory)


async def test_revocation_added_on_the_server_denies_the_next_scan(tmp_path: Path, server: LoopbackServer,
                                                                   clock: FakeClock) -> None:
    enrolled = await enrol_node(server, tmp_path / "node")
    store = await open_node_store(enrolled.config)
    clients: list[SyncClient] = []
    node = _node(enrolled, store, clock, clients)
    try:
        text, serial = await green_pass(server, server.groups["dorms"])  # type: ignore[attr-defined]
        [first] = node.judge([text], clock.monotonic())
        assert first.verdict.accepted
        await node.commit(first)

        now_s = to_unix(clock.now())
        await Passes(server.app[state.SERVICES].db).revoke_serial(serial, now_s + 86400, "lost phone", "admin", now_s)
        result = await clients[0].run_once()
        assert result is not None and result.acked_seq == 1
        assert store.revocations.version == 1

        clock.advance(30)  # past the repeat window: a new scan of the same pass
        [second] = node.judge([text], clock.monotonic())
        assert not second.verdict.accepted and second.verdict.reason.value == "revoked"
        decision = await node.commit(second)
        assert decision.record.reason == "revoked"
        await clients[0].aclose()
    finally:
        node.outputs.close()
        await store.close()


async def test_server_down_node_keeps_deciding_at_full_speed_and_catches_up(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    enrolled = await enrol_node(server, tmp_path / "node", batch_size=100)
    store = await open_node_store(enrolled.config)
    clients: list[SyncClient] = []
    node = _node(enrolled, store, clock, clients)
    client = clients[0]
    texts = [(await green_pass(server, server.groups["dorms"]))[0] for _ in range(3)]  # type: ignore[attr-defined]
    sync_task = asyncio.create_task(client.run())
    latencies: list[float] = []

    async def decide(n: int) -> None:
        for i in range(n):
            clock.advance(6)  # each scan a new sighting
            t0 = time.perf_counter()
            [j] = node.judge([texts[i % 3]], clock.monotonic())
            d = await node.commit(j)
            latencies.append(time.perf_counter() - t0)
            assert d.verdict.accepted
            await asyncio.sleep(0)

    try:
        await decide(50)
        for _ in range(200):
            if (await store.stats()).unsynced == 0:
                break
            await asyncio.sleep(0.02)
        assert node.online
        await server.stop()
        await decide(600)  # the server is down: the door keeps deciding
        await asyncio.sleep(0.5)  # several failed retries with backoff
        assert not node.online
        assert (await store.stats()).unsynced == 600
        await server.start()
        await decide(200)  # while the node catches up
        for _ in range(500):
            if (await store.stats()).unsynced == 0:
                break
            await asyncio.sleep(0.02)
        assert (await store.stats()).unsynced == 0
        assert node.online
        assert await server.scan_count("d7-east") == 850
        latencies.sort()
        assert latencies[len(latencies) // 2] < 0.02, latencies[len(latencies) // 2]
        assert latencies[int(len(latencies) * 0.99)] < 0.2, latencies[-10:]
        changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("server link:")]
        assert changes == ["server link: online", "server link: offline", "server link: online"]
    finally:
        sync_task.cancel()
        await asyncio.gather(sync_task, return_exceptions=True)
        node.outputs.close()
        await store.close()


async def test_runner_seam_builds_the_sync_client_from_the_bundle(tmp_path: Path, server: LoopbackServer,
                                                                  clock: FakeClock) -> None:
    from edge.runner import default_sync_factory
    from edge.sync import make_sync

    enrolled = await enrol_node(server, tmp_path / "node")
    assert default_sync_factory(enrolled.config) is make_sync
    store = await open_node_store(enrolled.config)
    node = Node(enrolled.config, store, pin_factory=MockFactory(), clock=clock, sync_factory=make_sync)
    try:
        assert isinstance(node.sync, SyncClient)
        result = await node.sync.run_once()
        assert result is not None and node.online
        status = node.status()
        assert status["online"] is True and status["status"] == "online"
        await node.sync.aclose()
    finally:
        node.outputs.close()
        await store.close()
