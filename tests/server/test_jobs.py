"""The periodic jobs run on the app's injected clock: advancing a FakeClock runs them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.datadir import DataDir
from server.jobs import Job, JobRunner, stop_task
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage import open_database
from server.storage.leases import JobLeases
from server.storage.pass_status import PassStatusStore, StatusRow
from server.storage.people import People
from server.web import state
from shared.clock import FakeClock, to_unix
from tests.server.conftest import START, add_person


async def settle(clock: FakeClock, sleepers: int) -> None:
    """Let the event loop run until ``sleepers`` tasks wait on the clock again."""
    for _ in range(1000):
        if clock.sleepers() >= sleepers:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{clock.sleepers()} sleepers; expected {sleepers}")


async def test_a_job_runs_each_period_of_the_fake_clock_and_survives_a_failure() -> None:
    clock = FakeClock(START)
    rounds: list[datetime] = []

    async def work(now: datetime) -> None:
        rounds.append(now)
        if len(rounds) == 2:
            raise RuntimeError("a bad round")

    runner = JobRunner([Job("work", 60, work)], clock)
    async with runner.running():
        await settle(clock, 1)
        clock.advance(59)
        await asyncio.sleep(0)
        assert rounds == []  # not yet a full period
        for _ in range(3):
            clock.advance(1 if not rounds else 60)
            await settle(clock, 1)
        assert len(rounds) == 3  # the failing second round did not stop the job
    assert clock.sleepers() == 0  # cancelled on exit


def test_job_declarations_are_checked() -> None:
    async def nothing(_now: datetime) -> None:
        return None

    with pytest.raises(ValueError, match="repeat"):
        JobRunner([Job("a", 1, nothing), Job("a", 2, nothing)], FakeClock(START))
    with pytest.raises(ValueError, match="period 0"):
        JobRunner([Job("a", 0, nothing)], FakeClock(START))


@pytest.fixture
def app(datadir: DataDir, clock: FakeClock) -> web.Application:
    return create_app(datadir, clock=clock, hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False,
                      run_jobs=True)


async def test_the_app_declares_its_jobs_and_runs_them_on_its_clock(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    runner = app[state.JOBS]
    names = {j.name for j in runner.jobs}
    assert {"missed-checkin-holds", "application-expiry", "checkin-reminders", "scan-retention",
            "account-housekeeping", "session-touches"} <= names
    await add_person(app, "S1")
    s1 = await People(app[state.SERVICES].db).by_number("S1")
    assert s1 is not None
    async with app[state.SERVICES].db.transaction() as conn:  # approved yesterday, no check-in today
        await PassStatusStore.put(conn, StatusRow(s1.id, status="black", last_checkin_day="2026-03-01"))
    await settle(clock, len(runner.jobs))
    clock.advance(5 * 3600)  # 13:00 local: past the check-in deadline; every job's period has passed
    await settle(clock, len(runner.jobs))
    row = await app[state.SERVICES].passes.store.get(s1.id)
    assert (row.status, row.hold_kind) == ("hold", "missed_checkin")


async def test_a_once_job_runs_once_per_period_across_processes(tmp_path: Path, database_url: str) -> None:
    """Three runners, each with its own connection to one database as three server processes
    would have: a ``once`` job runs one round per period in all, whoever wakes first; a per-process
    chore runs in each."""
    if database_url == "":  # SQLite: three connections to one file
        first = await open_database("", tmp_path / "jobs.db")
        dbs = [first, *[await open_database("", tmp_path / "jobs.db") for _ in range(2)]]
    else:
        dbs = [await open_database(database_url, tmp_path / "unused.db") for _ in range(3)]
    clock = FakeClock(START)
    once: list[tuple[str, datetime]] = []
    chores: list[str] = []
    runners = []
    for holder, db in zip("ABC", dbs, strict=True):
        leases = JobLeases(db)

        async def lease(name: str, period: int, now: datetime, leases: JobLeases = leases,
                        holder: str = holder) -> bool:
            return await leases.take(name, period, holder, to_unix(now))

        async def round_(now: datetime, holder: str = holder) -> None:
            once.append((holder, now))

        async def chore(_now: datetime, holder: str = holder) -> None:
            chores.append(holder)

        runners.append(JobRunner([Job("reminders", 60, round_), Job("touches", 60, chore, once=False)], clock, lease))
    try:
        async with runners[0].running(), runners[1].running(), runners[2].running():
            await settle(clock, 6)
            for _ in range(3):
                clock.advance(60)
                await asyncio.sleep(0.05)
                await settle(clock, 6)
        assert len(once) == 3 and len({now for _, now in once}) == 3  # one round per period
        assert sorted(chores) == sorted("ABC" * 3)
        taken = await JobLeases(dbs[0]).holders()
        assert taken["reminders"] == (to_unix(START) // 60 + 3, once[-1][0])
    finally:
        for db in dbs:
            await db.close()


async def test_stop_task_ends_a_task_that_swallowed_the_first_cancel() -> None:
    """Python 3.11's wait_for can lose a cancellation (it arrives as the awaited thing finishes):
    the task loops on. Stopping it cancels again until it has ended, so shutdown never hangs."""
    swallowed = []

    async def loop() -> None:
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if not swallowed:  # lose the first cancellation, as wait_for can
                    swallowed.append(True)
                    continue
                raise

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    assert await stop_task(task)
    assert swallowed == [True] and task.cancelled()


async def test_stop_task_gives_up_on_a_task_that_never_stops(caplog: pytest.LogCaptureFixture) -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    assert not await stop_task(task, tries=2)  # returns: the caller's shutdown goes on
    assert "stubborn did not stop after 2 cancellations" in caplog.text and not task.done()
    released.set()
    await task
