"""Fixtures of the provisioning tests (sync: ``init_data_dir`` runs its own event loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.datadir import DataDir
from shared.clock import FakeClock

from .helpers import new_data_dir


@pytest.fixture
def clock() -> FakeClock:
    from .helpers import START

    return FakeClock(START)


@pytest.fixture
def dd(tmp_path: Path, clock: FakeClock) -> DataDir:
    """A fresh server data directory initialised at the fake clock's time."""
    return new_data_dir(tmp_path, clock)[0]
