"""The node's /metrics: decisions by verdict and reason, decode times, unsynced scans, trust age
and staleness, camera and storage state, from a real node on the status endpoint."""

from __future__ import annotations

import itertools
import os

from aiohttp.test_utils import TestClient
from gpiozero.pins.mock import MockFactory
from prometheus_client.parser import text_string_to_metric_families

from edge.config import NodeConfig
from edge.metrics import NodeMetrics
from edge.node import Node, open_store
from edge.status import make_status_app
from shared.clock import FakeClock

from .helpers import Campus, pass_image

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: TestClient) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(await resp.text()) for s in family.samples}


async def test_node_metrics_follow_decisions_and_state(config: NodeConfig, campus: Campus, clock: FakeClock,
                                                       aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    ticks = itertools.count(step=0.004)  # each decode "takes" 4 ms on this counter
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock,
                metrics=NodeMetrics(perf_counter=lambda: next(ticks)))
    try:
        client: TestClient = await aiohttp_client(make_status_app(node))
        serial = os.urandom(8)
        await node.process_frame(pass_image(campus.pass_text(serial=serial)))
        clock.advance(10)
        await node.process_frame(pass_image(campus.pass_text(scope=(2,))))
        clock.advance(10)
        await node.process_frame(pass_image(campus.pass_text(serial=serial)[:-3] + "AAA"))
        samples = await scrape(client)
        decisions = {k[1]: v for k, v in samples.items() if k[0] == "campuspass_node_decisions_total"}
        assert decisions[(("reason", "accepted"), ("verdict", "accept"))] == 1
        assert decisions[(("reason", "out_of_scope"), ("verdict", "deny"))] == 1
        assert sum(v for k, v in decisions.items() if ("verdict", "deny") in k) == 2
        assert samples[("campuspass_node_decode_seconds_count", ())] == 3
        assert abs(samples[("campuspass_node_decode_seconds_sum", ())] - 0.012) < 1e-9
        assert samples[("campuspass_node_decode_seconds_bucket", (("le", "0.005"),))] == 3
        assert samples[("campuspass_node_unsynced_scans", ())] == 3
        assert samples[("campuspass_node_trust_age_seconds", ())] == 320
        assert samples[("campuspass_node_trust_stale", ())] == 0
        assert samples[("campuspass_node_camera_state", (("state", "starting"),))] == 1
        assert samples[("campuspass_node_storage_state", (("state", "ok"),))] == 1
        assert samples[("campuspass_node_clock_trusted", ())] == 1

        clock.advance(config.trust.stale_after_s)
        node.supervisor._set("down", "unplugged")
        samples = await scrape(client)
        assert samples[("campuspass_node_trust_stale", ())] == 1
        assert samples[("campuspass_node_trust_age_seconds", ())] > samples[
            ("campuspass_node_trust_stale_after_seconds", ())]
        assert samples[("campuspass_node_camera_state", (("state", "down"),))] == 1
        assert samples[("campuspass_node_camera_state", (("state", "starting"),))] == 0
    finally:
        node.outputs.close()
        await store.close()
