"""Plug the check-in and return-application feature into the app: the home-page cards
(check-in 20, application 30, reviewers 40)."""

from __future__ import annotations

from aiohttp import web

from server.web import application_pages, checkin_pages, review_pages
from server.web.pages import add_home_section


def install_workflow(app: web.Application) -> None:
    """Call in the app factory."""
    add_home_section(app, checkin_pages.home_card, 20)
    add_home_section(app, application_pages.home_card, 30)
    add_home_section(app, review_pages.home_card, 40)
