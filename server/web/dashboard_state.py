"""Wiring of the dashboards into the web app: the reminder service's app key and the
``cleanup_ctx`` that runs the automatic reminder (issue 9; docs/dashboards.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server.dashboards.figures import CampusFiguresCache, close_past_days
from server.dashboards.reminders import Reminders
from server.web import state

log = logging.getLogger(__name__)

REMINDERS = web.AppKey("reminders", Reminders)
"""The reminder service (:class:`server.dashboards.reminders.Reminders`), built at start-up."""
FIGURES = web.AppKey("campus_figures", CampusFiguresCache)
"""The campus figures of the school page and API (:class:`server.dashboards.figures.CampusFiguresCache`)."""


async def _keep_figures(app: web.Application) -> None:
    """Keep the closed days' check-in figures computed (every ``[reminders] check_interval_s``
    seconds, the first time one interval after start), so no visitor waits for them."""
    interval_s = max(1, app[state.CONFIG].reminders.check_interval_s)
    while True:
        await asyncio.sleep(interval_s)
        try:
            await close_past_days(app[state.DB], app[state.CLOCK].now())
        except Exception:
            log.exception("keeping the dashboard figures failed; retrying in %d s", interval_s)


def reminders_ctx(run_jobs: bool = True):  # type: ignore[no-untyped-def]
    """A ``cleanup_ctx`` building the reminder service and, with ``run_jobs``, looking every
    ``[reminders] check_interval_s`` seconds whether the automatic reminder is due and keeping
    the closed days' figures (append after the one opening the database; tests call
    ``app[REMINDERS].run_auto()`` themselves)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        service = Reminders(app[state.DB], app[state.CLOCK], app[state.CONFIG], sms_wake=app[state.SMS_SENDER].wake)
        app[REMINDERS] = service
        app[FIGURES] = CampusFiguresCache(app[state.DB], app[state.CLOCK])
        tasks = [asyncio.create_task(service.run_forever(), name="checkin-reminders"),
                 asyncio.create_task(_keep_figures(app), name="dashboard-figures")] if run_jobs else []
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return ctx
