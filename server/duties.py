"""Separation of duties: which role holds which power (ARCHITECTURE §10; the table in
docs/security.md is this one, checked by a test).

A *power* is a named group of actions; every API route belongs to one (:data:`ROUTE_POWERS`), and
the role × endpoint test in ``tests/server/test_duties.py`` calls every route of the OpenAPI
document as every role and checks that exactly the roles of its power get past the role check.
The domain enforces the powers a route alone cannot: admin roles are never granted and admin
passwords never reset through the web (only ``campuspass server`` on the command line, audited);
the system admin sees no personal data (no people, passes or holds; scans without persons; SMS
with masked codes and phone numbers).
"""

from __future__ import annotations

from server.errors import Forbidden

ROLES = ("student", "staff", "counsellor", "school_admin", "system_admin")
EVERYONE = frozenset(ROLES) | {"anonymous"}

POWERS: dict[str, frozenset[str]] = {
    "public": EVERYONE,
    "own_account": frozenset(ROLES),
    "checkin_and_apply": frozenset({"student", "staff"}),
    "see_department_people": frozenset({"counsellor", "school_admin"}),
    "review_and_arrive": frozenset({"counsellor", "school_admin"}),
    "hold_and_clear": frozenset({"counsellor", "school_admin"}),
    "revoke": frozenset({"school_admin"}),
    "campus_figures": frozenset({"school_admin"}),
    "reset_password": frozenset({"school_admin"}),
    "roster_import": frozenset({"school_admin", "system_admin"}),
    "sms_and_audit": frozenset({"school_admin", "system_admin"}),
    "scan_log": frozenset({"counsellor", "school_admin", "system_admin"}),
    "nodes_and_buildings": frozenset({"school_admin", "system_admin"}),
    "keys_and_enrolment": frozenset({"system_admin"}),
    "grant_admin_or_reset_admin": frozenset(),
}
"""Power → the roles holding it (``anonymous``: not logged in)."""

ROUTE_POWERS: dict[str, str] = {
    "GET /api/v1/openapi.json": "public",
    "POST /api/v1/auth/login": "public",
    "POST /api/v1/auth/login/code": "public",
    "POST /api/v1/auth/logout": "public",
    "POST /api/v1/nodes/{node_id}/sync": "public",  # signed by the node, not a session
    "POST /api/v1/nodes/enroll": "public",  # one-time enrolment token
    "GET /api/v1/me": "own_account",
    "POST /api/v1/auth/password": "own_account",
    "POST /api/v1/auth/phone/code": "own_account",
    "POST /api/v1/auth/phone/verify": "own_account",
    "GET /api/v1/pass": "own_account",
    "GET /api/v1/pass.svg": "own_account",
    "GET /api/v1/pass.png": "own_account",
    "GET /api/v1/return-applications/{id}": "own_account",  # own, or of the reviewer's departments
    "GET /api/v1/checkins/today": "checkin_and_apply",
    "POST /api/v1/checkins/today": "checkin_and_apply",
    "GET /api/v1/checkins": "checkin_and_apply",
    "POST /api/v1/return-applications": "checkin_and_apply",
    "GET /api/v1/return-applications/mine": "checkin_and_apply",
    "POST /api/v1/return-applications/{id}/withdraw": "checkin_and_apply",
    "POST /api/v1/return-applications/{id}/amend": "checkin_and_apply",
    "GET /api/v1/people": "see_department_people",
    "GET /api/v1/people/{number}": "see_department_people",
    "GET /api/v1/people/{number}/pass": "see_department_people",
    "GET /api/v1/review/checkins/abnormal": "see_department_people",
    "GET /api/v1/checkins/missing": "see_department_people",
    "POST /api/v1/reminders": "see_department_people",
    "GET /api/v1/reminders": "see_department_people",
    "GET /api/v1/stats/checkins": "see_department_people",
    "GET /api/v1/exports/missing.csv": "see_department_people",
    "GET /api/v1/exports/applications.csv": "see_department_people",
    "GET /api/v1/exports/arrivals.csv": "see_department_people",
    "GET /api/v1/review/return-applications": "review_and_arrive",
    "POST /api/v1/return-applications/{id}/approve": "review_and_arrive",
    "POST /api/v1/return-applications/{id}/reject": "review_and_arrive",
    "POST /api/v1/review/return-applications/approve": "review_and_arrive",
    "POST /api/v1/arrivals": "review_and_arrive",
    "POST /api/v1/arrivals/identify": "review_and_arrive",
    "POST /api/v1/arrivals/photo": "review_and_arrive",
    "GET /api/v1/arrivals/pending": "review_and_arrive",
    "POST /api/v1/people/{number}/pass/hold": "hold_and_clear",
    "POST /api/v1/people/{number}/pass/clear": "hold_and_clear",
    "POST /api/v1/people/{number}/pass/revoke": "revoke",
    "POST /api/v1/return-applications/{id}/revoke": "revoke",
    "POST /api/v1/people/{number}/dormitory": "revoke",
    "GET /api/v1/stats/campus": "campus_figures",
    "POST /api/v1/tracing/queries": "campus_figures",
    "GET /api/v1/occupancy": "campus_figures",
    "PUT /api/v1/buildings/{code}/capacity": "campus_figures",
    "POST /api/v1/admin/people/{number}/reset-password": "reset_password",
    "POST /api/v1/admin/roster": "roster_import",
    "GET /api/v1/admin/sms": "sms_and_audit",
    "POST /api/v1/admin/sms/{id}/retry": "sms_and_audit",
    "GET /api/v1/admin/audit": "sms_and_audit",
    "GET /api/v1/scans": "scan_log",
    "GET /api/v1/nodes": "nodes_and_buildings",
    "GET /api/v1/nodes/{node_id}/sync-log": "nodes_and_buildings",
    "POST /api/v1/nodes/{node_id}/disable": "nodes_and_buildings",
    "POST /api/v1/nodes/{node_id}/enable": "nodes_and_buildings",
    "GET /api/v1/buildings": "nodes_and_buildings",
    "POST /api/v1/buildings": "nodes_and_buildings",
    "POST /api/v1/building-groups": "nodes_and_buildings",
    "GET /api/v1/buildings/policy": "nodes_and_buildings",
    "POST /api/v1/admin/enrolment-tokens": "keys_and_enrolment",
    "GET /api/v1/admin/enrolment-tokens": "keys_and_enrolment",
    "POST /api/v1/admin/enrolment-tokens/{token_id}/cancel": "keys_and_enrolment",
}
"""``"METHOD /path"`` of every API route → its power."""

ADMIN_ROLES = frozenset({"school_admin", "system_admin"})


def may(role: str, power: str) -> bool:
    """True when ``role`` holds ``power``."""
    return role in POWERS[power]


def require(role: str, power: str, what: str) -> None:
    """Raises Forbidden (code ``forbidden``) unless ``role`` holds ``power``; ``what`` names the
    action in the message."""
    if not may(role, power):
        raise Forbidden(f"role {role} may not {what} (docs/security.md, separation of duties)")


def require_web_reset(actor_role: str, target_role: str) -> None:
    """A password reset through the web: only by a school admin, and never of an admin account.

    Raises:
        Forbidden: code ``forbidden`` (the actor may not reset passwords) or ``command_line_only``
            (the target is an admin: ``campuspass server reset-password`` on the server, audited).
    """
    require(actor_role, "reset_password", "reset passwords")
    if target_role in ADMIN_ROLES:
        raise Forbidden("admin passwords are reset only from the server's command line "
                        "(campuspass server reset-password), never through the web", code="command_line_only")
