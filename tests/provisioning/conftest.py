"""Fixtures of the provisioning tests (sync: ``init_data_dir`` runs its own event loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.init import InitResult, init_data_dir
from server.datadir import DataDir
from shared.clock import FakeClock, SystemClock

from .helpers import new_data_dir


@pytest.fixture
def clock() -> FakeClock:
    from .helpers import START

    return FakeClock(START)


@pytest.fixture
def dd(tmp_path: Path, clock: FakeClock) -> DataDir:
    """A fresh server data directory initialised at the fake clock's time."""
    return new_data_dir(tmp_path, clock)[0]


@pytest.fixture
def live_clock() -> FakeClock:
    """A fake clock starting at the real time, for tests that also run commands on the system clock."""
    return FakeClock(SystemClock().now())


@pytest.fixture
def live_dd(tmp_path: Path, live_clock: FakeClock) -> DataDir:
    """A data directory initialised now (real time), for command-line tests."""
    return new_data_dir(tmp_path, live_clock)[0]


@pytest.fixture
def init_result(tmp_path: Path, clock: FakeClock) -> InitResult:
    """``campuspass init`` at the fake clock's time, with the first admin's one-time password."""
    return init_data_dir(tmp_path / "data", clock)
