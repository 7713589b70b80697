"""Sync answers are authenticated end to end: a man in the middle between a real node client and
a real server (a forwarding HTTP proxy written here) forges the acknowledgement, the server
time, a malformed member, replays an old answer or drips the reply; nothing changes on the node
but an error count, and syncing carries on once the path is clean (docs/architecture.md §10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from edge.config import NodeConfig
from edge.store import NodeStore
from edge.sync import SyncClient
from shared.clock import FakeClock

from .helpers import LoopbackServer, enrol_node, free_port, offline_scans, open_node_store, serve, stop


@dataclass
class Proxy:
    """An HTTP proxy on 127.0.0.1 that forwards to the server and tampers with its answers.

    ``mode``: ``pass`` (forward untouched), ``ack`` (``ack_seq`` raised to 10^6), ``time``
    (``server_time_ms`` moved 3 days ahead), ``malformed`` (``ack_seq`` a string), ``replay``
    (the first answer ever seen, re-sent for every later request), ``drip`` (the genuine answer,
    one byte every 0.2 s), ``unsigned`` (the signature members removed).
    """

    upstream: str
    mode: str = "pass"
    port: int = field(default_factory=free_port)
    first_answer: bytes | None = None
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "content-encoding")}
        async with httpx.AsyncClient(base_url=self.upstream) as up:
            resp = await up.request(request.method, request.path_qs, content=body, headers=headers)
        raw = resp.content
        if resp.status_code == 200 and self.first_answer is None:
            self.first_answer = raw
        if resp.status_code == 200 and self.mode != "pass":
            raw = self.tamper(raw)
        if self.mode == "drip":
            out = web.StreamResponse(status=resp.status_code, headers={"Content-Type": "application/json",
                                                                          "Content-Length": str(len(raw))})
            await out.prepare(request)
            for i in range(len(raw)):
                await out.write(raw[i:i + 1])
                await asyncio.sleep(0.2)
            return out
        return web.Response(body=raw, status=resp.status_code, content_type="application/json")

    def tamper(self, raw: bytes) -> bytes:
        doc: dict[str, Any] = json.loads(raw)
        if self.mode == "ack":
            doc["ack_seq"] = 1_000_000
        elif self.mode == "time":
            doc["server_time_ms"] += 3 * 86400 * 1000
        elif self.mode == "malformed":
            doc["ack_seq"] = "all of them"
        elif self.mode == "unsigned":
            for name in ("key_id", "request", "signature"):
                doc.pop(name, None)
            doc["ack_seq"] = 1_000_000
        elif self.mode == "replay":
            assert self.first_answer is not None
            return self.first_answer
        return json.dumps(doc).encode()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = await serve(app, self.port)

    async def stop(self) -> None:
        self.runner = await stop(self.runner)


@pytest.fixture
async def proxy(server: LoopbackServer) -> AsyncIterator[Proxy]:
    p = Proxy(server.url)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def _via(config: NodeConfig, proxy: Proxy) -> NodeConfig:
    """The node's configuration with the proxy as its server."""
    return replace(config, node=replace(config.node, server_url=proxy.url))


async def _node_state(store: NodeStore) -> tuple[int, int, Any, int]:
    stats = await store.stats()
    return stats.unsynced, store.time_floor_s, await store.clock_offset(), store.revocations.version


@pytest.mark.parametrize("mode", ["ack", "time", "malformed", "unsigned", "replay"])
async def test_a_tampered_answer_changes_nothing_but_the_error_count(
    tmp_path: Path, server: LoopbackServer, proxy: Proxy, clock: FakeClock, mode: str
) -> None:
    node = await enrol_node(server, tmp_path / "node")
    store = await open_node_store(node.config)
    client = SyncClient(store, _via(node.config, proxy), node.key, clock=clock)
    try:
        await offline_scans(store, "d7-east", 3, clock)
        assert await client.run_once() is not None  # a clean round first: the proxy keeps its answer
        clock.advance(60)
        await offline_scans(store, "d7-east", 5, clock)
        before = await _node_state(store)
        assert before[0] == 5

        proxy.mode = mode
        for _ in range(3):
            assert await client.run_once() is None
        assert await _node_state(store) == before  # scans still unsynced, floor, offset, revocations
        assert client.bad_answers == 3
        assert client.failures == 3 and client.online is False
        assert await server.scan_count("d7-east") == 8  # the server did get them

        proxy.mode = "pass"  # the path is clean again: the node carries on
        result = await client.run_once()
        assert result is not None and result.acked_seq == 8
        assert (await store.stats()).unsynced == 0
        assert store.time_floor_s >= before[1]
    finally:
        await client.aclose()
        await store.close()


async def test_a_dripped_answer_meets_the_request_deadline(
    tmp_path: Path, server: LoopbackServer, proxy: Proxy, clock: FakeClock
) -> None:
    node = await enrol_node(server, tmp_path / "node", request_deadline_s=1.0)
    store = await open_node_store(node.config)
    client = SyncClient(store, _via(node.config, proxy), node.key, clock=clock)
    try:
        await offline_scans(store, "d7-east", 2, clock)
        before = await _node_state(store)
        proxy.mode = "drip"
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await client.run_once() is None
        assert loop.time() - started < 5  # the answer alone would take minutes
        assert await _node_state(store) == before
        assert client.online is False
        proxy.mode = "pass"
        result = await client.run_once()
        assert result is not None and result.acked_seq == 2
    finally:
        await client.aclose()
        await store.close()
