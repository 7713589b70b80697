"""Fixtures of the end-to-end tests: a demo campus started as real processes.

``start_campus`` sets up a small demo campus in ``tmp_path`` (8 students, cheap password
hashing for the imported accounts) and starts ``campuspass server run`` and the library's
``campuspass edge run`` as child processes with the same helpers as ``campuspass demo``. The
finalizer stops every child, whatever the test did, and then checks that none is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from campuspass.demo_campus import RunningCampus, start_campus
from campuspass.demo_setup import DemoLayout, setup_demo
from campuspass.processes import ProcessGroup, free_port, pid_alive
from server.passwords import FAST_TEST_PARAMS

StartCampus = Callable[..., tuple[DemoLayout, RunningCampus]]


@pytest.fixture
def campus_factory(tmp_path: Path) -> Iterator[StartCampus]:
    """``start(sync=True) -> (layout, running)``: a campus whose children are gone after the test."""
    group = ProcessGroup(stop_timeout_s=8.0)

    def start(*, sync: bool = True) -> tuple[DemoLayout, RunningCampus]:
        layout = setup_demo(tmp_path / "data", port=free_port(), status_ports=(free_port(), free_port()),
                            students_per_department=2, hasher_params=FAST_TEST_PARAMS, sync=sync)
        return layout, start_campus(group, layout, nodes=("library",))

    try:
        yield start
    finally:
        group.stop_all()
        left = [c.pid for c in group.children if pid_alive(c.pid)]
        assert not left, f"child processes still running after the test: {left}"
