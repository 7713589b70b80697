"""The golden sync vectors (docs/sync-vectors/) against the real server over loopback HTTP: the
vector requests, sent byte for byte with their signed headers, are stored and answered with
answers the node's check accepts; an older node's request (six heartbeat members, no
``documents``, records without the optional members) syncs as before; every refused body of
the vectors gets 422 with its code and stores nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from server.storage.nodes import Nodes
from server.web import state
from shared.clock import FakeClock, to_unix
from shared.keys import private_key_from_seed, public_key_bytes
from shared.node_auth import sign_request
from shared.sync_answer import verify_answer

from .helpers import LoopbackServer

FOLDER = Path(__file__).parents[2] / "docs" / "sync-vectors"
REQUESTS = json.loads((FOLDER / "requests.json").read_text(encoding="ascii"))
REFUSALS = json.loads((FOLDER / "refusals.json").read_text(encoding="ascii"))
NODE_KEY = private_key_from_seed(bytes.fromhex(REQUESTS["node_seed"]))
NODE_ID = REQUESTS["node_id"]


async def _enrol_vector_node(server: LoopbackServer, clock: FakeClock) -> None:
    assert to_unix(clock.now()) == REQUESTS["cases"][0]["signed"]["timestamp"], "the vectors' time"
    await Nodes(server.app[state.SERVICES].db).register(NODE_ID, building="D7", public_key=public_key_bytes(NODE_KEY),
                                               now_s=to_unix(clock.now()))


async def test_the_vector_requests_sync_byte_for_byte(server: LoopbackServer, clock: FakeClock) -> None:
    await _enrol_vector_node(server, clock)
    expected = {  # (received, inserted, duplicates, ack_seq)
        "a batch of three records with the heartbeat": (3, 3, 0, 3),
        "an older node: no documents member, six heartbeat members": (2, 0, 2, 3),
    }
    async with httpx.AsyncClient(base_url=server.url) as client:
        for case in REQUESTS["cases"]:
            signed = case["signed"]
            r = await client.post(signed["path"], content=case["body"].encode("ascii"),
                                  headers={**signed["headers"], "Content-Type": "application/json"})
            assert r.status_code == 200, r.text
            answer = verify_answer(r.json(), node_id=NODE_ID, nonce=signed["nonce"], body_sha256=signed["body_sha256"],
                                   held=server.datadir.trust_bundle(), pinned_root=server.datadir.root_public()).answer
            assert (answer.received, answer.inserted, answer.duplicates, answer.ack_seq) == expected[case["name"]]
            assert answer.revocations is not None  # documents: asked for (the older node by leaving it out)
    assert await server.scan_count(NODE_ID) == 3
    node = await Nodes(server.app[state.SERVICES].db).get(NODE_ID)
    assert node is not None and node.software_version == "0.0.9" and node.heartbeat["chain_epoch"] == 0


async def test_every_refused_vector_body_gets_its_code_and_stores_nothing(server: LoopbackServer,
                                                                          clock: FakeClock) -> None:
    await _enrol_vector_node(server, clock)
    async with httpx.AsyncClient(base_url=server.url) as client:
        for case in REFUSALS["cases"]:
            body = json.dumps(case["body"]).encode()
            path = f"/api/v1/nodes/{NODE_ID}/sync"
            headers: dict[str, Any] = sign_request(NODE_KEY, NODE_ID, "POST", path, body, to_unix(clock.now()))
            r = await client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
            assert (r.status_code, r.json()["error"]["code"]) == (422, case["code"]), case["name"]
    assert await server.scan_count() == 0
