"""The check-in and return-application services of a started app (built once, with the app's
other services, by :func:`server.services.build_services`; the expiry job runs on the app's job
runner)."""

from __future__ import annotations

import logging

from aiohttp import web

from server.web import state
from server.workflow.applications import ReturnApplications
from server.workflow.checkins import CheckinService

log = logging.getLogger(__name__)


def checkin_service(app: web.Application) -> CheckinService:
    """The check-in service of a started app (built once with the app)."""
    return app[state.SERVICES].checkins


def application_service(app: web.Application) -> ReturnApplications:
    """The return-application service of a started app (built once with the app)."""
    return app[state.SERVICES].applications
