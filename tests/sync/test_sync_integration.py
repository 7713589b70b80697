"""A real node client against a real server on 127.0.0.1 (docs/architecture.md §8, issue 7 acceptance)."""

from __future__ import annotations

import gzip
import sqlite3
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from edge.store import NodeStore
from edge.sync import DropResponses, SyncClient, SyncFailed
from server.storage.scans import ScanLog
from server.web import state
from shared.clock import FakeClock

from .helpers import (
    EnrolledNode,
    LoopbackServer,
    active_person,
    enrol_node,
    login,
    offline_scans,
    open_node_store,
)


async def test_ten_thousand_offline_scans_sync_completely(server: LoopbackServer, clock: FakeClock,
                                                          node: EnrolledNode, store: NodeStore) -> None:
    # catch-up batches of 1000, then 500
    await server.stop()  # made while the server is down
    made = await offline_scans(store, "d7-east", 10_000, clock)
    client = SyncClient(store, node.config, node.key, clock=clock)
    assert await client.run_once() is None
    assert client.online is False
    assert (await store.stats()).unsynced == 10_000

    await server.start()
    result = await client.run_once()
    assert result is not None and client.online is True
    assert result.acked_seq == made[-1].seq == 10_000
    assert result.requests == 12  # 9 catch-up batches of 1000, 2 of 500, then the empty tail
    assert await server.scan_count("d7-east") == 10_000
    assert (await store.stats()).unsynced == 0
    await client.aclose()


async def test_reply_lost_after_commit_then_retried_gives_exactly_once(tmp_path: Path, server: LoopbackServer,
                                                                       clock: FakeClock) -> None:
    node = await enrol_node(server, tmp_path / "node", catch_up_batch_size=500)
    store = await open_node_store(node.config)
    try:
        await offline_scans(store, "d7-east", 10_000, clock)
        lossy = DropResponses(httpx.AsyncHTTPTransport(), drop=3)
        client = SyncClient(store, node.config, node.key, clock=clock, transport=lossy)
        assert await client.run_once() is None  # the first reply was lost: the server has batch 1
        assert await server.scan_count() == 500
        assert (await store.stats()).unsynced == 10_000  # nothing acknowledged reached the node
        while (await client.run_once()) is None:
            pass
        assert lossy.dropped == 3
        assert await server.scan_count() == 10_000
        assert (await store.stats()).unsynced == 0
        syncs = await ScanLog(server.app[state.SERVICES].db).sync_log("d7-east")
        assert sum(s.duplicates for s in syncs) == 1500  # three lost replies, each batch sent twice
        assert sum(s.inserted for s in syncs) == 10_000
        await client.aclose()
    finally:
        await store.close()


class Recorder(httpx.AsyncBaseTransport):
    """Keeps a copy of every request sent (what an eavesdropper on the network would see)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _resend(server: LoopbackServer, request: httpx.Request, content: bytes | None = None) -> httpx.Response:
    """Send a captured request again (with ``content``: a plain body in place of the captured one)."""
    headers = dict(request.headers)
    if content is not None:
        headers.pop("content-encoding", None)
        headers.pop("content-length", None)
    async with httpx.AsyncClient() as raw:
        return await raw.post(str(request.url), headers=headers,
                              content=request.content if content is None else content)


async def test_batch_replayed_by_an_attacker_is_refused(server: LoopbackServer, clock: FakeClock, node: EnrolledNode,
                                                        store: NodeStore) -> None:
    await offline_scans(store, "d7-east", 40, clock)
    wire = Recorder()
    client = SyncClient(store, node.config, node.key, clock=clock, transport=wire)
    assert await client.run_once() is not None
    captured = wire.requests[0]
    count = await server.scan_count()

    r = await _resend(server, captured)  # at once: the nonce was used
    assert r.status_code == 401 and r.json()["error"]["code"] == "replayed_nonce"
    clock.advance(3600)  # an hour later: the timestamp is out of the window
    r = await _resend(server, captured)
    assert r.status_code == 401 and r.json()["error"]["code"] == "stale_timestamp"
    assert await server.scan_count() == count
    syncs = await ScanLog(server.app[state.SERVICES].db).sync_log("d7-east")
    assert [s.errors for s in syncs[:2]] == ["refused: stale_timestamp", "refused: replayed_nonce"]
    await client.aclose()


async def test_forged_signature_unknown_and_disabled_nodes_are_refused(
        tmp_path: Path, server: LoopbackServer, clock: FakeClock, node: EnrolledNode, store: NodeStore) -> None:
    from server.storage.nodes import Nodes
    from shared.keys import generate_key

    await offline_scans(store, "d7-east", 10, clock)
    forger = SyncClient(store, node.config, generate_key(), clock=clock)  # right id, wrong key
    assert await forger.run_once() is None
    assert await server.scan_count() == 0
    wire = Recorder()
    honest = SyncClient(store, node.config, node.key, clock=clock, transport=wire)
    assert await honest.run_once() is not None
    assert await server.scan_count() == 10

    captured = wire.requests[0]
    plain = gzip.decompress(captured.content)
    r = await _resend(server, captured, content=plain.replace(b'"accept"', b'"deny"', 1))
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_node_signature"
    r = await _resend(server, captured, content=plain)  # the body is fine, the nonce is spent
    assert r.json()["error"]["code"] == "replayed_nonce"
    headers = {k: v for k, v in captured.headers.items() if k != "content-length"}
    async with httpx.AsyncClient() as raw:  # a body that cannot be decompressed: 400, not 500
        r = await raw.post(str(captured.url), headers=headers, content=b"\x1f\x8b not gzip")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_encoding"
    headers.pop("x-campuspass-signature")
    async with httpx.AsyncClient() as raw:
        r = await raw.post(str(captured.url), headers=headers, content=captured.content)
    assert r.status_code == 401 and r.json()["error"]["code"] == "node_auth_missing"

    await Nodes(server.app[state.SERVICES].db).set_enabled("d7-east", False)
    await offline_scans(store, "d7-east", 1, clock)
    assert await honest.run_once() is None
    codes = [s.errors for s in await ScanLog(server.app[state.SERVICES].db).sync_log("d7-east")]
    assert codes[0] == "refused: node_disabled"
    assert "refused: bad_node_signature" in codes

    other = await enrol_node(server, tmp_path / "other", node_id="lib-1", building="LIB")
    stranger_cfg = replace(other.config, node=replace(other.config.node, id="nobody"))
    stranger = SyncClient(store, stranger_cfg, other.key, clock=clock)
    with pytest.raises(SyncFailed, match="unknown_node"):
        await stranger.sync_round()
    for c in (forger, honest, stranger):
        await c.aclose()


async def test_deleted_record_shows_as_a_gap_on_the_sync_log_page(tmp_path: Path, server: LoopbackServer,
                                                                  clock: FakeClock) -> None:
    node = await enrol_node(server, tmp_path / "node")
    store = await open_node_store(node.config)
    try:
        await offline_scans(store, "d7-east", 30, clock)
        await store.close()
        # Someone with shell access removes a decision from the log behind the node's back.
        with sqlite3.connect(node.config.db_path) as db:
            db.execute("DROP TRIGGER scans_keep_unsynced")
            db.execute("DELETE FROM scans WHERE seq = 17")
        store = await open_node_store(node.config)
        client = SyncClient(store, node.config, node.key, clock=clock)
        result = await client.run_once()
        assert result is not None and result.gaps == ((17, 17),) and result.acked_seq == 30
        assert await server.scan_count() == 29
        assert (await store.stats()).unsynced == 0

        await active_person(server, "it01", "system_admin")
        admin = await login(server, "it01")
        page = await admin.get("/admin/nodes/d7-east")
        assert page.status_code == 200
        assert "chain_gap" in page.text and "17..17" in page.text
        log = (await admin.get("/api/v1/nodes/d7-east/sync-log")).json()
        assert log["syncs"][0]["gaps"] == 1 and "chain_gap 17..17" in log["syncs"][0]["errors"]
        assert log["anomalies"][0]["kind"] == "chain_gap"
        fleet = (await admin.get("/api/v1/nodes")).json()["nodes"]
        assert [(n["id"], n["status"], n["anomalies"], n["queue_depth"]) for n in fleet] == [
            ("d7-east", "online", 1, 29)]
        await admin.aclose()
        await client.aclose()
    finally:
        await store.close()


async def test_malformed_bodies_from_an_enrolled_node_get_4xx(tmp_path: Path, server: LoopbackServer,
                                                             clock: FakeClock) -> None:
    import json

    from shared.node_auth import sign_request

    node = await enrol_node(server, tmp_path / "node")
    path = "/api/v1/nodes/d7-east/sync"
    hb = {"node_time_ms": 0, "queue_depth": 0, "software_version": "x", "trust_version": 0,
          "revocation_version": 0, "policy_version": 0}
    good = {"seq": 1, "scan_id": "0" * 36, "node_id": "d7-east", "at_ms": 1, "mono_ms": 1, "clock_trusted": True,
            "serial": None, "subject": None, "text_sha256": "0" * 64, "verdict": "deny", "reason": "malformed",
            "direction": "entry", "prev_hash": "0" * 64, "hash": "0" * 64}
    cases = [
        (b"not json", 400, "malformed_json"),
        (json.dumps({"records": []}).encode(), 422, "invalid_field"),
        (json.dumps({"heartbeat": {**hb, "extra": 1}, "records": []}).encode(), 422, "invalid_field"),
        (json.dumps({"heartbeat": hb, "records": [{**good, "seq": "1"}]}).encode(), 422, "bad_record"),
        (json.dumps({"heartbeat": hb, "records": [{**good, "node_id": "other"}]}).encode(), 422, "bad_record"),
        (json.dumps({"heartbeat": hb, "records": [{**good, "serial": "zz" * 8}]}).encode(), 422, "bad_record"),
        (json.dumps({"heartbeat": hb, "records": [good] * 1001}).encode(), 422, "batch_too_large"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "malformed_json"),
        (json.dumps({"heartbeat": {**hb, "queue_depth": 2**70}, "records": []}).encode(), 400, "malformed_json"),
        (json.dumps({"heartbeat": {**hb, "node_time_ms": 10**30}, "records": []}).encode(), 400, "malformed_json"),
    ]
    async with httpx.AsyncClient(base_url=server.url) as client:
        for body, status, code in cases:
            headers = sign_request(node.key, "d7-east", "POST", path, body, int(clock.now().timestamp()))
            r = await client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), body[:80]
    assert await server.scan_count() == 0
