"""Wiring of the check-in and return-application services into the web app.

:func:`checkin_service` and :func:`application_service` build the services from the app's state
(they are small objects over the shared database, clock, config, pass service and SMS sender).
:func:`workflow_ctx` is the ``cleanup_ctx`` that runs the expiry job every
``[workflow] expiry_interval_s`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server.web import state
from server.workflow.applications import ReturnApplications
from server.workflow.checkins import CheckinService

log = logging.getLogger(__name__)


def checkin_service(app: web.Application) -> CheckinService:
    """The check-in service of a started app."""
    return CheckinService(app[state.DB], app[state.CLOCK], app[state.CONFIG], app[state.PASS_SERVICE],
                          sms_wake=app[state.SMS_SENDER].wake)


def application_service(app: web.Application) -> ReturnApplications:
    """The return-application service of a started app."""
    return ReturnApplications(app[state.DB], app[state.CLOCK], app[state.CONFIG], app[state.PASS_SERVICE],
                              sms_wake=app[state.SMS_SENDER].wake)


async def run_expiry(app: web.Application) -> None:
    """Expire overdue applications and delete check-ins past their retention, forever, every
    ``expiry_interval_s`` seconds (a failure is logged and retried at the next round)."""
    interval_s = max(1, app[state.CONFIG].workflow.expiry_interval_s)
    while True:
        try:
            now = app[state.CLOCK].now()
            await application_service(app).expire_due(now)
            await checkin_service(app).purge_old(now)
        except Exception:
            log.exception("workflow job failed; retrying in %d s", interval_s)
        await asyncio.sleep(interval_s)


def workflow_ctx(run_jobs: bool = True):  # type: ignore[no-untyped-def]
    """A ``cleanup_ctx`` running the expiry job (append after the one opening the database).

    Args:
        run_jobs: start the periodic job (tests call ``expire_due`` themselves instead).
    """

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run_expiry(app), name="application-expiry") if run_jobs else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return ctx
