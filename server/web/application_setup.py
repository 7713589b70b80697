"""Plug the check-in and return-application feature into the app: the expiry job's
``cleanup_ctx`` and the home-page cards (check-in 20, application 30, reviewers 40)."""

from __future__ import annotations

from aiohttp import web

from server.web import application_pages, checkin_pages, review_pages
from server.web.application_state import workflow_ctx
from server.web.pages import add_home_section


def install_workflow(app: web.Application, *, run_jobs: bool = True) -> None:
    """Call in the app factory after the ``cleanup_ctx`` that opens the database.

    Args:
        app: the application being built.
        run_jobs: run the periodic expiry job.
    """
    app.cleanup_ctx.append(workflow_ctx(run_jobs))
    add_home_section(app, checkin_pages.home_card, 20)
    add_home_section(app, application_pages.home_card, 30)
    add_home_section(app, review_pages.home_card, 40)
