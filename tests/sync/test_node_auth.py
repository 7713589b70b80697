"""The signed-request rules of shared.node_auth, and the sync routes in the OpenAPI document."""

from __future__ import annotations

import pytest

from shared.keys import generate_key
from shared.node_auth import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    NodeAuthError,
    canonical_string,
    parse_headers,
    sign_request,
    verify_request,
)

from .helpers import LoopbackServer

NOW = 1_772_416_800
PATH = "/api/v1/nodes/d7-east/sync"


def test_canonical_string_is_pinned() -> None:
    got = canonical_string("post", PATH + "?a=1", "d7-east", NOW, "A" * 22, b"")
    assert got == (
        b"campuspass-node-request/v1\nPOST\n/api/v1/nodes/d7-east/sync?a=1\nd7-east\n1772416800\n"
        + b"A" * 22 + b"\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_signed_request_verifies_and_every_change_breaks_it() -> None:
    key = generate_key()
    headers = sign_request(key, "d7-east", "POST", PATH, b'{"x":1}', NOW)
    signed = parse_headers(headers)
    verify_request(signed, key.public_key(), "POST", PATH, b'{"x":1}', NOW + 299)
    for method, path, body in (("GET", PATH, b'{"x":1}'), ("POST", PATH + "?x", b'{"x":1}'), ("POST", PATH, b"{}")):
        with pytest.raises(NodeAuthError) as err:
            verify_request(signed, key.public_key(), method, path, body, NOW)
        assert err.value.code == "bad_node_signature"
    with pytest.raises(NodeAuthError) as err:
        verify_request(signed, generate_key().public_key(), "POST", PATH, b'{"x":1}', NOW)
    assert err.value.code == "bad_node_signature"
    with pytest.raises(NodeAuthError) as err:
        verify_request(signed, key.public_key(), "POST", PATH, b'{"x":1}', NOW + 301)
    assert err.value.code == "stale_timestamp" and "+301" not in err.value.message and "-301 s" in err.value.message


@pytest.mark.parametrize("header,value", [
    (TIMESTAMP_HEADER, ""), (TIMESTAMP_HEADER, "-5"), (TIMESTAMP_HEADER, "12e3"), (TIMESTAMP_HEADER, "²"),
    (TIMESTAMP_HEADER, "١٧٦٤"), (NONCE_HEADER, "short"),
    (NONCE_HEADER, "!" * 22), (SIGNATURE_HEADER, "AAAA"),
])
def test_malformed_headers_are_refused_with_one_code(header: str, value: str) -> None:
    headers = sign_request(generate_key(), "d7-east", "POST", PATH, b"", NOW)
    headers[header] = value
    with pytest.raises(NodeAuthError) as err:
        parse_headers(headers)
    assert err.value.code == "node_auth_missing"


async def test_sync_routes_are_in_the_openapi_document(server: LoopbackServer) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as client:
        doc = (await client.get("/api/v1/openapi.json")).json()
        assert {"/api/v1/nodes/{node_id}/sync", "/api/v1/nodes", "/api/v1/nodes/{node_id}/sync-log",
                "/api/v1/scans"} <= set(doc["paths"])
        sync = doc["paths"]["/api/v1/nodes/{node_id}/sync"]["post"]
        assert sync["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/SyncRequest"}
        schemas = doc["components"]["schemas"]
        assert {"Heartbeat", "ScanRecord", "SyncAnswer", "Gap", "AnswerBinding"} <= set(schemas)
        assert schemas["SyncRequest"]["properties"]["records"]["items"] == {"$ref": "#/components/schemas/ScanRecord"}
        # Unauthenticated: each in the one envelope.
        r = await client.get("/api/v1/nodes")
        assert r.status_code == 401 and r.json()["error"]["code"] == "not_logged_in"
        r = await client.post("/api/v1/nodes/d7-east/sync", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "node_auth_missing"
        r = await client.post("/api/v1/nodes/d7-east/sync", content=b"{}", headers=sign_request(
            generate_key(), "ghost", "POST", "/api/v1/nodes/d7-east/sync", b"{}", NOW) | {
            "Content-Type": "application/json"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unknown_node"
