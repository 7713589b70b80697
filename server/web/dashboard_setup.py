"""Plug the dashboards into the app (issue 9): their routes, the reminder service's keys and
the home-page card (order 35); the automatic reminder runs on the app's job runner."""

from __future__ import annotations

from aiohttp import web

from server.web import dashboard_api, dashboard_pages, export_api, state
from server.web.dashboard_state import FIGURES, REMINDERS
from server.web.pages import add_home_section


def install_dashboards(app: web.Application) -> None:
    """Call in the app factory: the routes, the services' keys once the app starts, the home card."""
    for routes in (dashboard_api.routes, export_api.routes, dashboard_pages.routes):
        routes.register(app)
    app.on_startup.append(_keys)
    add_home_section(app, dashboard_pages.home_card, 35)


async def _keys(app: web.Application) -> None:
    """The dashboards' keys name the services built once with the app."""
    app[REMINDERS] = app[state.SERVICES].reminders
    app[FIGURES] = app[state.SERVICES].figures
