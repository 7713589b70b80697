"""Fixtures of the sync tests: a FakeClock shared by server and node, a real data directory, and
the server running on 127.0.0.1 with buildings D7 and LIB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from provisioning.init import init_data_dir
from server.datadir import DataDir
from shared.clock import FakeClock
from tests.conftest import use_database

from .helpers import START, LoopbackServer, add_buildings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def datadir(tmp_path: Path, clock: FakeClock, database_url: str) -> DataDir:
    """A data directory on each backend (``database_url``: SQLite, then PostgreSQL)."""
    return use_database(init_data_dir(tmp_path / "server", clock, admin=None).datadir, database_url)


@pytest.fixture
async def server(datadir: DataDir, clock: FakeClock) -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer(datadir, clock)
    await srv.start()
    srv.groups = await add_buildings(srv)  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        await srv.stop()
