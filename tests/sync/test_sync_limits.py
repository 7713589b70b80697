"""Sync request limits: the documented 2 MiB body limit holds (also for a gzip body that inflates
past it), every record and heartbeat field is bounded, and the OpenAPI document says so."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx

from edge.store import NodeStore
from server.sync import SYNC_MAX_BODY_BYTES
from shared.clock import FakeClock, to_unix
from shared.keys import Ed25519PrivateKey
from shared.node_auth import sign_request
from shared.scanlog import ScanRecord

from .helpers import EnrolledNode, LoopbackServer, enrol_node, offline_scans

HEARTBEAT = {"node_time_ms": 0, "queue_depth": 0, "software_version": "test", "trust_version": 1,
             "revocation_version": 0, "policy_version": 0}


async def _post(server: LoopbackServer, key: Ed25519PrivateKey, clock: FakeClock, body: bytes,
                gzipped: bool = False) -> tuple[int, dict[str, Any]]:
    path = "/api/v1/nodes/d7-east/sync"
    headers = {**sign_request(key, "d7-east", "POST", path, body, to_unix(clock.now())),
               "Content-Type": "application/json"}
    content = body
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        content = gzip.compress(body)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        r = await client.post(path, content=content, headers=headers)
    return r.status_code, r.json()


def _body(records: list[dict[str, Any]], clock: FakeClock, **heartbeat: Any) -> bytes:
    hb = {**HEARTBEAT, "node_time_ms": int(clock.now().timestamp() * 1000), **heartbeat}
    return json.dumps({"heartbeat": hb, "records": records}).encode()


async def test_a_body_over_two_mib_is_refused_plain_or_gzip(tmp_path: Path, server: LoopbackServer,
                                                            clock: FakeClock) -> None:
    node = await enrol_node(server, tmp_path / "node")
    padding = " " * (SYNC_MAX_BODY_BYTES + 10)
    big = _body([], clock)[:-1] + padding.encode() + b"}"
    status, doc = await _post(server, node.key, clock, big)
    assert (status, doc["error"]["code"]) == (413, "body_too_large")
    status, doc = await _post(server, node.key, clock, big, gzipped=True)  # ~2 KiB on the wire
    assert (status, doc["error"]["code"]) == (413, "body_too_large")
    status, _ = await _post(server, node.key, clock, _body([], clock))
    assert status == 200


async def test_record_and_heartbeat_fields_are_bounded(server: LoopbackServer, clock: FakeClock,
                                                       node: EnrolledNode, store: NodeStore) -> None:
    [rec] = await offline_scans(store, "d7-east", 1, clock)
    good = ScanRecord.to_json(rec)
    for name, value in (("reason", "x" * 5000), ("reason", "Accepted!"), ("text_sha256", "ab" * 5000),
                        ("hash", "z" * 64), ("prev_hash", "0" * 63), ("at_ms", 2**60), ("mono_ms", -1),
                        ("seq", 2**62)):
        status, doc = await _post(server, node.key, clock, _body([{**good, name: value}], clock))
        assert (status, doc["error"]["code"]) == (422, "bad_record"), (name, value, doc)
    for name, value in (("software_version", "v" * 65), ("queue_depth", -5), ("camera", "c" * 33),
                        ("trust_version", 2**40), ("clock_offset_s", 1e300)):
        status, doc = await _post(server, node.key, clock, _body([], clock, **{name: value}))
        assert (status, doc["error"]["code"]) == (422, "invalid_field"), (name, value, doc)
        assert name in doc["error"]["message"]
    status, doc = await _post(server, node.key, clock, _body([good], clock))
    assert status == 200 and doc["inserted"] == 1
    assert await server.scan_count("d7-east") == 1


async def test_openapi_declares_the_limits(server: LoopbackServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        doc = (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    sync = doc["paths"]["/api/v1/nodes/{node_id}/sync"]["post"]["requestBody"]
    assert sync["x-max-body-bytes"] == SYNC_MAX_BODY_BYTES == 2 * 1024 * 1024
    hb = schemas["Heartbeat"]["properties"]
    assert hb["software_version"]["maxLength"] == 64
    assert hb["node_time_ms"]["minimum"] == 0 and hb["node_time_ms"]["maximum"] == 2**53
    assert hb["oldest_unsynced_at_ms"]["anyOf"][0]["maximum"] == 2**53
    login = schemas["LoginBody"]["properties"]
    assert login["username"]["maxLength"] == 64 and login["password"]["maxLength"] == 128
    login_doc = doc["paths"]["/api/v1/auth/login"]["post"]["requestBody"]
    assert login_doc["x-max-body-bytes"] == 256 * 1024
