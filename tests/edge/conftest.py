"""Fixtures of the door node tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import NodeConfig
from shared.clock import FakeClock

from .helpers import T0, Campus, make_bundle_dir


@pytest.fixture
def campus() -> Campus:
    return Campus()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def config(tmp_path: Path, campus: Campus) -> NodeConfig:
    """A node bundle folder (node.toml, keys, documents) for building D7, mock pins."""
    return make_bundle_dir(tmp_path / "node", campus)
