"""The camera watchdog: reads a camera off the event loop, notices outages, stalls and hung
drivers, and reopens with backoff (docs/edge-node.md, "Camera watchdog").

Bounds (``stall_s`` from ``camera.stall_s``):

* a read that has not returned ``stall_s`` seconds after it started is a stall, noticed within
  ``stall_s + min(0.2 s, stall_s / 4)`` (the margin keeps a live camera's own "nothing within
  ``stall_s``" answer from racing the watchdog); decoding, which shares the camera thread, is
  not counted (the decoder has its own time budget);
* a camera counts as ``ok`` only once a frame has arrived: one that opens and delivers nothing
  stays ``starting``/``down`` (replays, which may be idle, are ``ok`` once open);
* a call stuck in the driver (read, open or close past its limit) is abandoned with its thread,
  a daemon thread that never keeps a stopped process alive. More than ``max_hung`` such threads
  still stuck at once raises :class:`~edge.camera.base.CameraHung`: only a new process frees
  them (the node exits with :data:`edge.node.EXIT_CAMERA_HUNG`; systemd starts it again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from edge.camera.base import Camera, CameraEnded, CameraError, CameraHung

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Largest margin past ``stall_s`` before a read in progress is declared hung (seconds).
STALL_MARGIN_S = 0.2
#: Hung driver threads tolerated at once; one more and the supervisor raises CameraHung.
MAX_HUNG_THREADS = 3


@dataclass
class CameraHealth:
    """What status shows about the camera.

    Attributes:
        state: ``starting``, ``ok`` (frames flow), ``down`` (outage, reopening) or ``ended``
            (replay done).
        since_mono_s: monotonic time of the last state change.
        error: the outage's cause (None when ok).
        frames: frames delivered so far.
        reopens: outages that ended with frames flowing again.
        hung_threads: abandoned driver calls still stuck (bounded by ``max_hung``).
    """

    state: str = "starting"
    since_mono_s: float = 0.0
    error: str | None = None
    frames: int = 0
    reopens: int = 0
    hung_threads: int = 0

    def as_json(self, now_mono_s: float) -> dict[str, Any]:
        """For the status endpoint."""
        return {
            "state": self.state,
            "for_s": round(now_mono_s - self.since_mono_s, 1),
            "error": self.error,
            "frames": self.frames,
            "reopens": self.reopens,
            "hung_threads": self.hung_threads,
        }


class _DaemonThreadExecutor(concurrent.futures.Executor):
    """One daemon worker thread running submitted calls in order.

    Unlike ``ThreadPoolExecutor`` (whose workers the interpreter joins at exit), a worker stuck
    in a camera driver does not keep a stopped node's process alive.
    """

    def __init__(self, name: str) -> None:
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any],
                                            tuple[Any, ...], dict[str, Any]] | None] = queue.SimpleQueue()
        self._shutdown = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """True while the worker thread runs (after shutdown: while it is stuck in a call)."""
        return self._thread.is_alive()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._work.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # delivered to the awaiting coroutine
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        self._work.put(None)
        if wait:
            self._thread.join()


class _ReadWatch:
    """When the read of one step started (None: not reading: before the read, or decoding)."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started: float | None = None


class _Stalled(Exception):
    """A call did not return within its limit (its thread is abandoned)."""


class CameraSupervisor:
    """Reads a camera off the event loop; reopens it with backoff when it fails or stalls.

    Each ``read`` runs in a single daemon thread. When the camera raises :class:`CameraError`,
    a live camera delivers nothing for ``stall_s`` seconds, or a call hangs (module docstring),
    the outage is logged once, :attr:`health` says ``down``, the camera is closed and reopened
    after ``reopen_min_s``, then twice that, ... (at most ``reopen_max_s``).

    Args:
        camera: the source.
        stall_s: seconds a read may take, and seconds without a frame that count as an outage
            for a live camera (replays and folder cameras may be idle forever).
        reopen_min_s, reopen_max_s: backoff bounds (seconds).
        monotonic: the clock for health timestamps (the watchdog itself uses real time).
        max_hung: hung driver threads tolerated at once.

    Attributes:
        health: the camera's current :class:`CameraHealth`.
        on_change: called with ``health`` on every state change (the node refreshes its
            status indication and locks the relay on ``down``).
    """

    def __init__(self, camera: Camera, stall_s: float = 5.0, reopen_min_s: float = 0.5,
                 reopen_max_s: float = 10.0, monotonic: Any = time.monotonic,
                 max_hung: int = MAX_HUNG_THREADS) -> None:
        self.camera = camera
        self.stall_s = stall_s
        self.margin_s = min(STALL_MARGIN_S, stall_s / 4)
        self.reopen_min_s = min(reopen_min_s, reopen_max_s)
        self.reopen_max_s = reopen_max_s
        self.max_hung = max_hung
        self._mono = monotonic
        self.health = CameraHealth(since_mono_s=monotonic())
        self.on_change: Callable[[CameraHealth], None] | None = None
        self._executor: _DaemonThreadExecutor | None = None
        self._hung: list[_DaemonThreadExecutor] = []

    def _set(self, state: str, error: str | None = None) -> None:
        self.health.error = error
        if state != self.health.state:
            self.health.state = state
            self.health.since_mono_s = self._mono()
            if self.on_change is not None:
                self.on_change(self.health)

    def _abandon(self, executor: _DaemonThreadExecutor, what: str) -> None:
        """Give up on a stuck call's thread; raise CameraHung past ``max_hung`` stuck threads."""
        executor.shutdown(wait=False, cancel_futures=True)
        if executor is self._executor:
            self._executor = None
        self._hung = [e for e in (*self._hung, executor) if e.alive()]
        self.health.hung_threads = len(self._hung)
        log.warning("camera %s: %s stuck in the driver; thread abandoned (%d stuck)",
                    self.camera.name, what, len(self._hung))
        if len(self._hung) > self.max_hung:
            raise CameraHung(
                f"camera {self.camera.name}: {len(self._hung)} driver calls stuck (limit {self.max_hung}); "
                "only a restart of the process frees them")

    async def _bounded(self, fn: Callable[[], Any], what: str, executor: _DaemonThreadExecutor | None = None
                       ) -> Any:
        """Run ``fn`` in ``executor`` (a fresh one when None) for at most ``stall_s + margin``."""
        ex = executor or _DaemonThreadExecutor(f"camera-{what}")
        fut = asyncio.get_running_loop().run_in_executor(ex, fn)
        try:
            done, _ = await asyncio.wait({fut}, timeout=self.stall_s + self.margin_s)
            if not done:
                fut.cancel()
                self._abandon(ex, what)
                raise _Stalled(f"{what} did not return within {self.stall_s:g} s")
            return fut.result()
        finally:
            if executor is None and not ex._shutdown:
                ex.shutdown(wait=False)

    async def _read(self, executor: _DaemonThreadExecutor, step: Callable[[_ReadWatch], Any]) -> Any:
        """One read (+ process) step; a read still running ``stall_s + margin`` after it began
        is a stall (the decode that follows it in the same step is not timed)."""
        watch = _ReadWatch()
        fut = asyncio.get_running_loop().run_in_executor(executor, step, watch)
        limit_s = self.stall_s + self.margin_s
        while True:
            started = watch.started
            wait_s = limit_s if started is None else started + limit_s - time.monotonic()
            done, _ = await asyncio.wait({fut}, timeout=max(wait_s, 0.0))
            if done:
                return fut.result()
            started = watch.started
            if started is not None and time.monotonic() - started >= limit_s:
                fut.cancel()
                self._abandon(executor, "read")
                raise _Stalled(f"a read did not return within {self.stall_s:g} s")

    async def frames(self, process: Callable[[np.ndarray], T] | None = None
                     ) -> AsyncIterator[tuple[T | np.ndarray, float]]:
        """Yield ``(item, captured_mono_s)`` until a replay ends or the task is cancelled.

        ``item`` is the frame, or ``process(frame)`` when given: the node passes its decoder so
        a frame is read and decoded in one hop to the camera thread (decoding the newest frame
        while the driver keeps filling its own buffer).

        Raises:
            CameraHung: more than ``max_hung`` driver calls are stuck (module docstring).
        """
        backoff_s = self.reopen_min_s
        live = self.camera.live
        read_timeout_s = self.stall_s if live else min(self.stall_s, 0.5)

        def step(watch: _ReadWatch) -> tuple[T | np.ndarray, float] | None:
            watch.started = time.monotonic()
            frame = self.camera.read(read_timeout_s)
            watch.started = None
            if frame is None:
                return None
            mono = self._mono()
            return (process(frame) if process is not None else frame), mono

        try:
            while True:
                executor = self._executor = _DaemonThreadExecutor("camera")
                try:
                    await self._bounded(self.camera.open, "open", executor)
                    if not live:
                        self._set("ok")
                    while True:
                        got = await self._read(executor, step)
                        if got is None:
                            if live:
                                raise CameraError(f"no frame for {self.stall_s:g} s")
                            continue
                        self.health.frames += 1
                        if self.health.state != "ok":
                            if self.health.state == "down":
                                self.health.reopens += 1
                                log.info("camera %s is back after an outage: frames flow", self.camera.name)
                            self._set("ok")
                            backoff_s = self.reopen_min_s
                        yield got
                except CameraEnded:
                    self._set("ended")
                    return
                except (CameraError, _Stalled) as exc:
                    reason = exc.message if isinstance(exc, CameraError) else str(exc)
                    if self.health.state != "down":
                        log.warning("camera %s outage: %s; reopening with backoff", self.camera.name, reason)
                    self._set("down", reason)
                    if self._executor is not None:
                        self._executor.shutdown(wait=False, cancel_futures=True)
                        self._executor = None
                    try:
                        await self._bounded(self._close_quietly, "close")
                    except _Stalled:
                        pass  # counted; the reopen below may still work
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, self.reopen_max_s)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            closer = threading.Thread(target=self._close_quietly, name="camera-close", daemon=True)
            closer.start()
            closer.join(timeout=min(self.stall_s, 1.0))  # a hung driver must not hold the exit

    def _close_quietly(self) -> None:
        try:
            self.camera.close()
        except Exception as exc:  # a broken driver must not stop the reopen loop
            log.debug("camera close failed: %s", exc)
