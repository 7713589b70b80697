"""Supervised background tasks of the door node (docs/edge-node.md, "Background tasks").

The node's long-running parts (sync, log writer, ticker, storage mender, status server) each
run under a :class:`TaskSupervisor`: an exception in one is logged once (with its traceback;
the same error again is not logged again), shown in status, and the task is started again
after a backoff that doubles from ``backoff_initial_s`` up to ``backoff_max_s`` (reset once a
run has lasted ``backoff_max_s``). Cancellation stops a task for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TaskBody = Callable[[], Awaitable[None]]


@dataclass
class TaskHealth:
    """One supervised task as status shows it.

    Attributes:
        state: ``running``, ``restarting`` (crashed, waiting for its backoff), ``finished``
            (returned; not restarted) or ``stopped`` (cancelled at shutdown).
        restarts: how often it was started again after a crash.
        error: the last crash (``ExceptionType: message``; None: never crashed).
    """

    state: str = "running"
    restarts: int = 0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """For ``/status``."""
        return {"state": self.state, "restarts": self.restarts, "error": self.error}


class TaskSupervisor:
    """Starts named coroutines and keeps them running.

    Args:
        backoff_initial_s, backoff_max_s: restart delay bounds (seconds).
        on_change: called after every state change (the node refreshes its indication).
        monotonic: the clock that measures how long a run lasted (seconds).
    """

    def __init__(self, *, backoff_initial_s: float = 0.5, backoff_max_s: float = 30.0,
                 on_change: Callable[[], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_change = on_change
        self._mono = monotonic
        self.health: dict[str, TaskHealth] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, body: TaskBody) -> asyncio.Task[None]:
        """Run ``body()`` as task ``name``, restarting it after each exception."""
        self.health[name] = TaskHealth()
        task = asyncio.create_task(self._keep(name, body), name=name)
        self._tasks[name] = task
        return task

    def running(self, name: str) -> bool:
        """True while task ``name`` exists and is not crashed, finished or stopped."""
        h = self.health.get(name)
        return h is not None and h.state == "running"

    def as_json(self) -> dict[str, Any]:
        """``{name: TaskHealth.as_json()}`` for status."""
        return {name: h.as_json() for name, h in self.health.items()}

    async def stop(self) -> None:
        """Cancel every task and wait for them."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for h in self.health.values():
            h.state = "stopped"

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # never let a status refresh kill the supervisor
                log.exception("status refresh failed")

    async def _keep(self, name: str, body: TaskBody) -> None:
        h = self.health[name]
        backoff_s = self.backoff_initial_s
        logged: str | None = None
        while True:
            started = self._mono()
            try:
                await body()
            except asyncio.CancelledError:
                h.state = "stopped"
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if error != logged:
                    log.error("task %s crashed; restarting it with backoff", name, exc_info=exc)
                    logged = error
                h.state, h.error = "restarting", error
                self._changed()
                if self._mono() - started >= self.backoff_max_s:
                    backoff_s = self.backoff_initial_s
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self.backoff_max_s)
                h.restarts += 1
                h.state = "running"
                self._changed()
                continue
            h.state = "finished"
            self._changed()
            return
