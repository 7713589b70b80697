"""Background jobs, declared as data and run by one runner on the injected clock.

A :class:`Job` is a name, a period in seconds and an async function of the current time. The
:class:`JobRunner` runs each job every period: it sleeps through the app's clock
(:meth:`shared.clock.Clock.sleep`), so a test with a :class:`~shared.clock.FakeClock` makes a
job run by advancing the clock, and it logs a failing round and tries again at the next one (a
job never dies of one bad round). The server's jobs are listed in :func:`server.services.jobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.clock import Clock

log = logging.getLogger(__name__)


STOP_WAIT_S = 1.0
"""How long :func:`stop_task` waits after each cancel before cancelling again (seconds)."""


async def stop_task(task: asyncio.Task[object], tries: int = 10) -> bool:
    """Cancel ``task`` and wait until it has ended; True when it did.

    One ``cancel()`` is not always enough on Python 3.11: ``asyncio.wait_for`` (used by
    psycopg_pool's connection wait, among others) can swallow a cancellation that arrives as the
    awaited thing completes, and the task then carries on with its loop. So the cancel is
    repeated every :data:`STOP_WAIT_S` seconds, ``tries`` times at most; a task that outlives
    all of them is logged and left behind, so that shutting the server down never hangs on it.
    Whatever the task raised on its way out (other than the cancellation) is logged.
    """
    for _ in range(tries):
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.error("task %s ended with an error while stopping", task.get_name(), exc_info=task.exception())
            return True
    log.error("task %s did not stop after %d cancellations; left behind", task.get_name(), tries)
    return False


@dataclass(frozen=True, slots=True)
class Job:
    """One periodic job.

    Attributes:
        name: short name for logs and task names, e.g. ``missed-checkin-holds``.
        period_s: seconds between rounds (the first round runs one period after start).
        run: ``await run(now)`` does one round; what it returns is logged at debug level.
        once: the round must happen once per period across server processes: it runs only when
            the runner's lease says this process took the period (False: a per-process chore,
            such as writing this process's remembered session touches).
    """

    name: str
    period_s: float
    run: Callable[[datetime], Awaitable[object]]
    once: bool = True


#: ``await lease(job name, period number, now)``: True when this process took that period of the
#: job (period number = Unix seconds // period_s); see :class:`server.storage.leases.JobLeases`.
Lease = Callable[[str, int, datetime], Awaitable[bool]]


class JobRunner:
    """Runs :class:`Job` s on a clock while :meth:`running` is entered.

    Args:
        jobs: the jobs (names must be unique).
        clock: the clock to read the time from and to sleep on.
        lease: asked before each round of a ``once`` job; the round is skipped when another
            process took its period. None: every round runs (one process).

    Raises:
        ValueError: two jobs share a name, or a period is not positive.
    """

    def __init__(self, jobs: Sequence[Job], clock: Clock, lease: Lease | None = None) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names repeat: {names}")
        for job in jobs:
            if job.period_s <= 0:
                raise ValueError(f"job {job.name}: period {job.period_s} s; expected more than 0")
        self.jobs = tuple(jobs)
        self.clock = clock
        self.lease = lease

    async def run_once(self, name: str) -> object:
        """Run one round of job ``name`` now (the command line and tests).

        Raises:
            KeyError: no such job. Whatever the round raises.
        """
        job = next((j for j in self.jobs if j.name == name), None)
        if job is None:
            raise KeyError(f"no job {name!r}; expected one of {[j.name for j in self.jobs]}")
        return await job.run(self.clock.now())

    async def _loop(self, job: Job) -> None:
        while True:
            await self.clock.sleep(job.period_s)
            try:
                now = self.clock.now()
                if job.once and self.lease is not None and not await self.lease(
                        job.name, int(now.timestamp() // job.period_s), now):
                    log.debug("job %s: another process took this period", job.name)
                    continue
                result = await job.run(now)
                log.debug("job %s: %r", job.name, result)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s failed; trying again in %g s", job.name, job.period_s)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run every job in its own task for the duration of the block; cancelled on exit."""
        tasks = [asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self.jobs]
        try:
            yield
        finally:
            await asyncio.gather(*(stop_task(task) for task in tasks))
