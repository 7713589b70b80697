"""The server side of a replaced node database: one sequence number of a node never names two
records, whatever the node sends; a new chain epoch is recognised and the lost range recorded
as an anomaly for the admin."""

from __future__ import annotations

from pathlib import Path

from edge.config import NodeConfig
from edge.store import NodeStore
from edge.sync import SyncClient
from server.web import state
from shared.clock import FakeClock

from .helpers import LoopbackServer, enrol_node, offline_scans, open_node_store


async def fresh_store(cfg: NodeConfig, name: str) -> NodeStore:
    """A second, empty database for the same node (as after losing the first)."""
    from dataclasses import replace

    return await open_node_store(replace(cfg, node=replace(cfg.node, data_dir=name)))


async def anomalies(server: LoopbackServer, node_id: str) -> list[tuple[str, int | None, int | None]]:
    rows = await server.app[state.SERVICES].db.fetch_all(
        "SELECT kind, seq_from, seq_to FROM node_anomalies WHERE node_id = ? ORDER BY id", (node_id,))
    return [(r[0], r[1], r[2]) for r in rows]


async def test_a_reseeded_database_without_a_new_epoch_never_overwrites_or_duplicates(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock) -> None:
    enrolled = await enrol_node(server, tmp_path / "node")
    first = await open_node_store(enrolled.config)
    client = SyncClient(first, enrolled.config, enrolled.key, clock=clock)
    originals = await offline_scans(first, "d7-east", 4, clock)
    assert (await client.run_once()) is not None
    await client.aclose()
    await first.close()
    # What an older node did with an empty database file: seed again and count from 1.
    second = await fresh_store(enrolled.config, "data2")
    client = SyncClient(second, enrolled.config, enrolled.key, clock=clock)
    await offline_scans(second, "d7-east", 2, clock)
    assert (await client.run_once()) is not None
    await client.aclose()
    await second.close()
    db = server.app[state.SERVICES].db
    rows = await db.fetch_all("SELECT seq, scan_id FROM scans WHERE node_id = 'd7-east' ORDER BY seq")
    assert [(r[0], r[1]) for r in rows] == [(r.seq, r.scan_id) for r in originals]  # nothing lost, no duplicate
    assert [a[0] for a in await anomalies(server, "d7-east")] == ["seq_conflict", "seq_conflict"]


async def test_a_new_epoch_is_stored_beside_the_old_chain_and_the_lost_range_recorded(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock) -> None:
    enrolled = await enrol_node(server, tmp_path / "node")
    first = await open_node_store(enrolled.config)
    client = SyncClient(first, enrolled.config, enrolled.key, clock=clock)
    await offline_scans(first, "d7-east", 5, clock)
    assert (await client.run_once()) is not None
    await offline_scans(first, "d7-east", 2, clock)  # never uploaded: lost with the database
    await client.aclose()
    await first.close()
    second = await fresh_store(enrolled.config, "data2")
    await second.start_epoch(1_800_000_000)
    client = SyncClient(second, enrolled.config, enrolled.key, clock=clock)
    # The heartbeat alone tells the server (before any record of the new epoch exists).
    result = await client.run_once()
    assert result is not None and result.acked_seq == 0
    assert await anomalies(server, "d7-east") == [("chain_epoch", 6, None)]
    new = await offline_scans(second, "d7-east", 3, clock)
    result = await client.run_once()
    assert result is not None and result.acked_seq == 3 and (await second.stats()).unsynced == 0
    await client.aclose()
    await second.close()
    db = server.app[state.SERVICES].db
    rows = await db.fetch_all("SELECT chain_epoch, seq FROM scans WHERE node_id = 'd7-east' ORDER BY chain_epoch, seq")
    assert [(r[0], r[1]) for r in rows] == [(0, s) for s in range(1, 6)] + [(1_800_000_000, s) for s in (1, 2, 3)]
    assert [r.epoch for r in new] == [1_800_000_000] * 3
    assert await anomalies(server, "d7-east") == [("chain_epoch", 6, None)]  # and no gap, no bad link
    head = await db.fetch_one("SELECT acked_epoch, acked_seq FROM nodes WHERE id = 'd7-east'")
    assert head is not None and (head[0], head[1]) == (1_800_000_000, 3)
