"""Sync and the node's time and trust rules: server time repairs a poisoned floor and anchors
the clock check; in ``fail_mode = "open"`` an admission on stale trust reaches the server's scan
log flagged."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.node import Node
from edge.sync import SyncClient
from server.storage.scans import ScanLog
from server.web import state
from shared.clock import FakeClock, to_unix

from .helpers import LoopbackServer, enrol_node, green_pass, open_node_store


async def test_open_mode_admission_on_stale_trust_is_flagged_in_the_server_scan_log(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock) -> None:
    enrolled = await enrol_node(server, tmp_path / "node")
    cfg = replace(enrolled.config, trust=replace(enrolled.config.trust, fail_mode="open", stale_after_s=600))
    store = await open_node_store(cfg)
    node = Node(cfg, store, pin_factory=MockFactory(), clock=clock, boot_id="boot-1")
    client = SyncClient(store, cfg, enrolled.key, clock=clock, boot_id="boot-1")
    try:
        text, _ = await green_pass(server, server.groups["dorms"])  # type: ignore[attr-defined]
        fresh_text, _ = await green_pass(server, server.groups["dorms"])  # type: ignore[attr-defined]
        clock.advance(900)  # the server unreachable for 15 min: trust is stale
        [stale] = node.judge([text], clock.monotonic())
        assert stale.verdict.accepted and stale.trust_stale
        await node.commit(stale)
        assert (await client.run_once()) is not None  # the sync also brings fresh revocation data
        [fresh] = node.judge([fresh_text], clock.monotonic())
        assert fresh.verdict.accepted and not fresh.trust_stale
        await node.commit(fresh)
        assert (await client.run_once()) is not None
        scans = await ScanLog(server.app[state.SERVICES].db).search(with_person=False)
        assert {s.seq: s.trust_stale for s in scans} == {1: True, 2: False}
    finally:
        await client.aclose()
        node.outputs.close()
        await store.close()


async def test_a_sync_repairs_a_floor_poisoned_by_a_clock_that_ran_ahead(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock) -> None:
    enrolled = await enrol_node(server, tmp_path / "node")
    store = await open_node_store(enrolled.config)
    node = Node(enrolled.config, store, pin_factory=MockFactory(), clock=clock, boot_id="boot-1")
    client = SyncClient(store, enrolled.config, enrolled.key, clock=clock, boot_id="boot-1")
    try:
        text, _ = await green_pass(server, server.groups["dorms"])  # type: ignore[attr-defined]
        await store.raise_time_floor(to_unix(clock.now() + timedelta(days=400)))  # an older version's doing
        [j] = node.judge([text], clock.monotonic())
        assert not j.verdict.accepted  # locked out (the issuer key itself looks expired)
        assert (await client.run_once()) is not None
        assert abs(store.time_floor_s - to_unix(clock.now())) <= 1
        anchor = store.time_anchor
        assert anchor is not None and anchor.boot_id == "boot-1"
        clock.advance(10)
        [j] = node.judge([text], clock.monotonic())
        assert j.verdict.accepted and j.when.verified
    finally:
        await client.aclose()
        node.outputs.close()
        await store.close()
