"""Plug the dashboards into the app (issue 9): their routes, the reminder service and its
automatic job (``cleanup_ctx``), the home-page card and the page texts."""

from __future__ import annotations

from aiohttp import web

from server.web import dashboard_api
from server.web.dashboard_state import reminders_ctx


def install_dashboards(app: web.Application, *, run_jobs: bool = True) -> None:
    """Call in the app factory after the ``cleanup_ctx`` that opens the database.

    Args:
        app: the application being built.
        run_jobs: run the periodic automatic-reminder check.
    """
    dashboard_api.routes.register(app)
    app.cleanup_ctx.append(reminders_ctx(run_jobs))
