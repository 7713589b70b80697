"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import FullDisk
from tests.pg import PgCluster, start_cluster
from tests.pg import use_database as use_database  # where the suite imports it from

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL server for the whole run (tests/pg.py), started on first use."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """``[database] url`` for a server test, once per backend: ``""`` (the data directory's SQLite
    file) and a fresh migrated PostgreSQL database on the session's server, dropped afterwards."""
    if request.param == "sqlite":
        yield ""
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database()
    try:
        yield url
    finally:
        cluster.drop_database(url)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[FullDisk]:
    """A data folder that can be made full and freed again (:class:`tests.faults.FullDisk`: a real
    tmpfs when running as root), released at the end of the test."""
    d = FullDisk(tmp_path)
    try:
        yield d
    finally:
        d.close()
