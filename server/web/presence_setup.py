"""Plug tracing and occupancy into the app (issue 19): their routes and the school admin's home
card (order 36); the scan-retention job runs on the app's job runner."""

from __future__ import annotations

import logging

from aiohttp import web

from server.web import occupancy_api, presence_pages, tracing_api
from server.web.pages import add_home_section

log = logging.getLogger(__name__)


def install_presence(app: web.Application) -> None:
    """Call in the app factory: the routes and the home card (the scan-retention job runs on the
    app's job runner, :func:`server.services.jobs`)."""
    for routes in (tracing_api.routes, occupancy_api.routes, presence_pages.routes):
        routes.register(app)
    add_home_section(app, presence_pages.home_card, 36)
