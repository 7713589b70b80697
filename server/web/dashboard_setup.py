"""Plug the dashboards into the app (issue 9): their routes and the home-page card (order 35);
the automatic reminder runs on the app's job runner."""

from __future__ import annotations

from aiohttp import web

from server.web import dashboard_api, dashboard_pages, export_api
from server.web.pages import add_home_section


def install_dashboards(app: web.Application) -> None:
    """Call in the app factory: the routes, the home card."""
    for routes in (dashboard_api.routes, export_api.routes, dashboard_pages.routes):
        routes.register(app)
    add_home_section(app, dashboard_pages.home_card, 35)

