"""The camera watchdog: a hung read noticed within ``stall_s`` plus a small margin, a camera that
opens but gives no frame kept ``down`` until frames flow, and hung driver threads bounded (past
the limit the node exits with EXIT_CAMERA_HUNG so that systemd starts a new process)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from edge.camera import CameraHung, CameraSupervisor
from edge.config import NodeConfig
from edge.node import EXIT_CAMERA_HUNG
from edge.pins import SafeMockFactory
from edge.runner import run_node
from shared.clock import FakeClock

FRAME = np.zeros((8, 8), np.uint8)


class HangingCamera:
    """Live; delivers ``frames_first`` frames after each open, then every read hangs for
    ``hang_s`` seconds (None: until :meth:`release`)."""

    name = "hanging"
    live = True

    def __init__(self, frames_first: int = 0, hang_s: float | None = None) -> None:
        self.frames_first = frames_first
        self.hang_s = hang_s
        self.opens = 0
        self.reads_since_open = 0
        self.hang_started: list[float] = []
        self._released = threading.Event()

    def open(self) -> None:
        self.opens += 1
        self.reads_since_open = 0

    def read(self, timeout_s: float) -> np.ndarray | None:
        self.reads_since_open += 1
        if self.reads_since_open <= self.frames_first:
            return FRAME
        self.hang_started.append(time.monotonic())
        self._released.wait(self.hang_s)  # a driver call that does not return
        return FRAME

    def close(self) -> None:
        pass

    def release(self) -> None:
        self._released.set()


class SilentCamera:
    """Live; opens every time, delivers frames only while ``delivering`` (else None after the
    read timeout, as picamera2 does when the sensor stops streaming)."""

    name = "silent"
    live = True

    def __init__(self, delivering: bool) -> None:
        self.delivering = delivering
        self.opens = 0

    def open(self) -> None:
        self.opens += 1

    def read(self, timeout_s: float) -> np.ndarray | None:
        if self.delivering:
            time.sleep(0.01)
            return FRAME
        time.sleep(timeout_s)
        return None

    def close(self) -> None:
        pass


@pytest.fixture
def released() -> Iterator[list[HangingCamera]]:
    """Cameras whose hung reads are let go after the test (no thread outlives it)."""
    cams: list[HangingCamera] = []
    yield cams
    for cam in cams:
        cam.release()


def consume(sup: CameraSupervisor) -> asyncio.Task[None]:
    async def run() -> None:
        async for _ in sup.frames():
            pass
    return asyncio.create_task(run())


async def wait_for(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not within {timeout_s} s")


async def test_a_hung_read_is_noticed_within_stall_s_plus_a_small_margin(released: list[HangingCamera]) -> None:
    cam = HangingCamera(frames_first=3)
    released.append(cam)
    sup = CameraSupervisor(cam, stall_s=0.5, reopen_min_s=5, reopen_max_s=5)
    down_at: list[float] = []
    sup.on_change = lambda h: down_at.append(time.monotonic()) if h.state == "down" else None
    task = consume(sup)
    try:
        await wait_for(lambda: bool(down_at))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    noticed_after_s = down_at[0] - cam.hang_started[0]
    # 0.25 s for a busy test machine's event loop; the old watchdog took 2 x stall_s = 1.0 s
    assert sup.stall_s <= noticed_after_s <= sup.stall_s + sup.margin_s + 0.25
    assert sup.margin_s <= 0.2 and sup.health.error == "a read did not return within 0.5 s"
    assert sup.health.hung_threads == 1


async def test_a_camera_that_opens_but_gives_no_frame_stays_down_until_frames_flow() -> None:
    cam = SilentCamera(delivering=True)
    sup = CameraSupervisor(cam, stall_s=0.1, reopen_min_s=0.02, reopen_max_s=0.05)
    states: list[str] = []
    sup.on_change = lambda h: states.append(h.state)
    task = consume(sup)
    try:
        await wait_for(lambda: sup.health.frames >= 3)
        cam.delivering = False  # the sensor stops streaming; every reopen succeeds, no frame comes
        await wait_for(lambda: cam.opens >= 5)
        assert states == ["ok", "down"]  # reopened four times, never reported ok meanwhile
        assert sup.health.state == "down" and sup.health.reopens == 0
        cam.delivering = True
        await wait_for(lambda: sup.health.state == "ok")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert states == ["ok", "down", "ok"] and sup.health.reopens == 1


async def test_a_camera_that_never_delivers_goes_from_starting_to_down() -> None:
    sup = CameraSupervisor(SilentCamera(delivering=False), stall_s=0.1, reopen_min_s=0.02, reopen_max_s=0.05)
    states: list[str] = []
    sup.on_change = lambda h: states.append(h.state)
    assert sup.health.state == "starting"
    task = consume(sup)
    try:
        await asyncio.sleep(0.6)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert states == ["down"]


async def test_reads_that_come_back_late_free_their_threads(released: list[HangingCamera]) -> None:
    cam = HangingCamera(frames_first=1, hang_s=0.25)  # each read hangs 0.25 s, then returns
    released.append(cam)
    sup = CameraSupervisor(cam, stall_s=0.1, reopen_min_s=0.05, reopen_max_s=0.05, max_hung=2)
    threads_before = threading.active_count()
    task = consume(sup)
    peak = 0
    try:
        async with asyncio.timeout(5):
            while len(cam.hang_started) < 6:
                peak = max(peak, sup.health.hung_threads, threading.active_count() - threads_before)
                await asyncio.sleep(0.01)
        assert not task.done()  # never more than max_hung stuck at once: no CameraHung
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert peak <= 2 + 2  # stuck ones (<= max_hung) + the live camera thread + a closer
    await wait_for(lambda: threading.active_count() <= threads_before)


async def test_hung_reads_past_the_limit_raise_camera_hung(released: list[HangingCamera]) -> None:
    cam = HangingCamera(frames_first=1)  # every read after the first hangs for good
    released.append(cam)
    sup = CameraSupervisor(cam, stall_s=0.1, reopen_min_s=0.02, reopen_max_s=0.02, max_hung=2)
    threads_before = threading.active_count()
    task = consume(sup)
    with pytest.raises(CameraHung, match="3 driver calls stuck"):
        async with asyncio.timeout(5):
            await task
    assert len(cam.hang_started) == 3 and threading.active_count() - threads_before <= 3
    cam.release()
    await wait_for(lambda: threading.active_count() <= threads_before)


async def test_the_node_exits_with_camera_hung_so_that_systemd_restarts_it(
        config: NodeConfig, clock: FakeClock, released: list[HangingCamera]) -> None:
    from dataclasses import replace

    cam = HangingCamera(frames_first=0)
    released.append(cam)
    cfg = replace(config, camera=replace(config.camera, stall_s=0.1, reopen_max_s=0.02))
    factory = SafeMockFactory()
    async with asyncio.timeout(10):
        code = await run_node(cfg, camera=cam, pin_factory=factory, clock=clock)
    assert code == EXIT_CAMERA_HUNG == 4
    assert len(cam.hang_started) == 4  # the default limit: three stuck threads tolerated
    relay = factory.pin(config.gpio.relay.pin)
    assert relay.function == "input"  # released at exit; it was never driven energised meanwhile
