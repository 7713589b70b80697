"""The dashboards' services in the web app (issue 9; docs/dashboards.md): built once with the
app's other services; the automatic reminder and the figures run on the app's job runner."""

from __future__ import annotations

import logging

from aiohttp import web

from server.dashboards.figures import CampusFiguresCache
from server.dashboards.reminders import Reminders

log = logging.getLogger(__name__)

REMINDERS = web.AppKey("reminders", Reminders)
"""The reminder service (:class:`server.dashboards.reminders.Reminders`), built at start-up."""
FIGURES = web.AppKey("campus_figures", CampusFiguresCache)
"""The campus figures of the school page and API (:class:`server.dashboards.figures.CampusFiguresCache`)."""
