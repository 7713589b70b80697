"""Plug the dashboards into the app (issue 9): their routes, the reminder service and its
automatic job (``cleanup_ctx``), the home-page card (order 35) and the page texts."""

from __future__ import annotations

from aiohttp import web

from server.web import dashboard_api, dashboard_pages, export_api
from server.web.dashboard_state import reminders_ctx
from server.web.pages import add_home_section


def install_dashboards(app: web.Application, *, run_jobs: bool = True) -> None:
    """Call in the app factory after the ``cleanup_ctx`` that opens the database.

    Args:
        app: the application being built.
        run_jobs: run the periodic automatic-reminder check.
    """
    for routes in (dashboard_api.routes, export_api.routes, dashboard_pages.routes):
        routes.register(app)
    app.cleanup_ctx.append(reminders_ctx(run_jobs))
    add_home_section(app, dashboard_pages.home_card, 35)
