"""Plug tracing and occupancy into the app (issue 19): their routes, the scan-retention job
(``cleanup_ctx``) and the school admin's home card (order 36)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server.presence.retention import purge_old_scans
from server.web import occupancy_api, presence_pages, state, tracing_api
from server.web.pages import add_home_section
from shared.errors import CampusPassError

log = logging.getLogger(__name__)


async def _retention(app: web.Application) -> None:
    """Delete scans past ``[presence] scan_retention_days`` every ``retention_interval_s``."""
    config = app[state.CONFIG].presence
    while True:
        try:
            await purge_old_scans(app[state.DB], app[state.CLOCK], config)
        except CampusPassError as exc:
            log.warning("scan retention: %s; retrying in %d s", exc, config.retention_interval_s)
        await asyncio.sleep(config.retention_interval_s)


def retention_ctx(run_jobs: bool = True):  # type: ignore[no-untyped-def]
    """A ``cleanup_ctx`` running the scan-retention job (append after the one opening the
    database; tests call :func:`server.presence.retention.purge_old_scans` themselves)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_retention(app), name="scan-retention") if run_jobs else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return ctx


def install_presence(app: web.Application, *, run_jobs: bool = True) -> None:
    """Call in the app factory after the ``cleanup_ctx`` that opens the database.

    Args:
        app: the application being built.
        run_jobs: run the periodic scan-retention job.
    """
    for routes in (tracing_api.routes, occupancy_api.routes, presence_pages.routes):
        routes.register(app)
    app.cleanup_ctx.append(retention_ctx(run_jobs))
    add_home_section(app, presence_pages.home_card, 36)
