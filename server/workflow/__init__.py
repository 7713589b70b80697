"""The daily health check-in and the return-to-campus application workflow.

Domain rules live here (validation, the application state machine, expiry); SQL lives in
:mod:`server.storage.checkins` and :mod:`server.storage.applications`; HTTP in the
``server.web.checkins``, ``applications`` and ``review`` modules. Source: the
university's return-to-campus guide as summarised in docs/architecture.md §2.2–§2.4 and §3.
"""
