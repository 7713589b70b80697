"""Counsellor and school dashboards (issue 9): check-in progress, reminders, campus figures,
charts and CSV exports. SQL lives in :mod:`server.storage.dashboard`; HTTP in the
``server.web.dashboard_*`` and ``export_*`` modules. See docs/dashboards.md.
"""
