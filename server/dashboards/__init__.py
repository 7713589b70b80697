"""Counsellor and school dashboards (issue 9): check-in progress, reminders, campus figures,
charts and CSV exports. SQL lives in :mod:`server.storage.dashboard`; HTTP in the
``server.web.dashboards`` and ``server.web.exports`` modules. See docs/dashboards.md.
"""
