"""Wiring of the dashboards into the web app: the reminder service's app key and the
``cleanup_ctx`` that runs the automatic reminder (issue 9; docs/dashboards.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from server.dashboards.reminders import Reminders
from server.web import state

REMINDERS = web.AppKey("reminders", Reminders)
"""The reminder service (:class:`server.dashboards.reminders.Reminders`), built at start-up."""


def reminders_ctx(run_jobs: bool = True):  # type: ignore[no-untyped-def]
    """A ``cleanup_ctx`` building the reminder service and, with ``run_jobs``, looking every
    ``[reminders] check_interval_s`` seconds whether the automatic reminder is due (append after
    the one opening the database; tests call ``app[REMINDERS].run_auto()`` themselves)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        service = Reminders(app[state.DB], app[state.CLOCK], app[state.CONFIG], sms_wake=app[state.SMS_SENDER].wake)
        app[REMINDERS] = service
        task = asyncio.create_task(service.run_forever(), name="checkin-reminders") if run_jobs else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return ctx
