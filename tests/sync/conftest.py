"""Fixtures of the sync tests: a FakeClock shared by server and node, a real data directory, and
the server running on 127.0.0.1 with buildings D7 and LIB, and a node d7-east enrolled there with
its database open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.store import NodeStore
from server.datadir import DataDir
from shared.clock import FakeClock
from tests.server import conftest as server_fixtures

from .helpers import START, EnrolledNode, LoopbackServer, add_buildings, enrol_node, open_node_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


datadir = server_fixtures.datadir  # the server tests' data directory, on each backend, at this clock


@pytest.fixture
async def server(datadir: DataDir, clock: FakeClock) -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer(datadir, clock)
    await srv.start()
    srv.groups = await add_buildings(srv)  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def node(tmp_path: Path, server: LoopbackServer) -> EnrolledNode:
    """Node ``d7-east`` at building D7, enrolled on ``server``, its bundle in ``tmp_path/node``."""
    return await enrol_node(server, tmp_path / "node")


@pytest.fixture
async def store(node: EnrolledNode) -> AsyncIterator[NodeStore]:
    """The database of ``node``, seeded from its bundle (closed after the test)."""
    opened = await open_node_store(node.config)
    try:
        yield opened
    finally:
        await opened.close()
