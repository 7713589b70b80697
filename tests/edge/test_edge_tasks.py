"""Supervised background tasks: a crash is logged once, shown in status, and the task starts again
with backoff; a node whose sync task is not running never reports itself online."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.camera import DirCamera
from edge.config import NodeConfig
from edge.node import Node, open_store
from edge.tasks import TaskSupervisor
from shared.clock import FakeClock

from .test_edge_node import wait_for


class CrashingSync:
    """A sync component that answers once, then fails ``crashes`` times, then answers again."""

    def __init__(self, node: Node, crashes: int) -> None:
        self.node = node
        self.crashes = crashes
        self.runs = 0
        self.release = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        self.node.set_online(True)
        if self.runs == 1:
            await self.release.wait()
        if self.crashes > 0:
            self.crashes -= 1
            raise RuntimeError("connection pool broke")
        await asyncio.Event().wait()


async def test_a_crashed_sync_task_is_restarted_and_the_node_is_not_online_meanwhile(
        tmp_path: Path, config: NodeConfig, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config = replace(config, node=replace(config.node, server_url="http://127.0.0.1:9"))
    store = await open_store(config)
    syncs: list[CrashingSync] = []

    def factory(node: Node) -> CrashingSync:
        syncs.append(CrashingSync(node, crashes=3))
        return syncs[0]

    tasks = TaskSupervisor(backoff_initial_s=0.2, backoff_max_s=0.4)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock, sync_factory=factory, tasks=tasks,
                camera=DirCamera(tmp_path / "incoming"))
    run = asyncio.create_task(node.run(handle_signals=False))
    try:
        await wait_for(lambda: node.is_online())
        assert node.status()["online"] is True
        syncs[0].release.set()
        await wait_for(lambda: tasks.health["sync"].state == "restarting")
        # The flag the sync task set is stale while it is down: never "online".
        assert node.online and not node.is_online()
        status = node.status()
        assert status["online"] is False and status["tasks"]["sync"]["state"] == "restarting"
        assert status["tasks"]["sync"]["error"] == "RuntimeError: connection pool broke"
        node.refresh_status()
        assert node.outputs.status.value == "offline"
        await wait_for(lambda: tasks.health["sync"].restarts == 3 and tasks.running("sync"))
        assert node.is_online()
        crash_logs = [r for r in caplog.records if "task sync crashed" in r.getMessage()]
        assert len(crash_logs) == 1 and crash_logs[0].exc_info is not None  # the same error: logged once
    finally:
        node.stop()
        await run
        await store.close()
    assert all(h.state in ("stopped", "finished") for h in tasks.health.values())


async def test_backoff_doubles_up_to_its_bound() -> None:
    runs = 0

    async def body() -> None:
        nonlocal runs
        runs += 1
        if runs < 5:
            raise ValueError(f"run {runs}")

    sup = TaskSupervisor(backoff_initial_s=0.01, backoff_max_s=0.04)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await sup.start("job", body)
    waited_s = loop.time() - t0
    assert runs == 5 and sup.health["job"].restarts == 4 and sup.health["job"].state == "finished"
    assert sup.health["job"].error == "ValueError: run 4"
    assert waited_s >= 0.01 + 0.02 + 0.04 + 0.04  # 0.01, 0.02, 0.04, then held at the bound
