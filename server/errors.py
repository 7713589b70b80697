"""The server's error tree: every error the domain raises, with a stable code and a category.

The domain (workflow, pass status, arrivals, accounts, roster, dashboards) knows nothing of
HTTP: it raises these errors, each with a stable machine ``code`` (part of the API contract)
and a :class:`Category`. The web layer maps a category to an HTTP status in one table
(:data:`server.web.errors.STATUS_OF`); the command line prints the message and the code.

::

    CampusPassError (shared.errors)         code            category
    ├── DomainError                         bad_request     bad_request
    │   ├── BadRequest                      bad_request     bad_request
    │   ├── InvalidField                    invalid_field   invalid
    │   │   ├── InvalidAnswers              invalid_field   invalid      (server.workflow.checkins; fields[])
    │   │   └── PeriodError                 invalid_field   invalid      (server.presence)
    │   ├── NotLoggedIn                     not_logged_in   unauthenticated
    │   ├── Forbidden                       forbidden       forbidden
    │   │   ├── OutOfScope                  department_scope forbidden   (server.scope)
    │   │   ├── NotYours                    department_scope forbidden   (server.arrivals)
    │   │   ├── NotPermitted                forbidden       forbidden    (server.presence)
    │   │   └── HoldClearRefused            hold_needs_higher_role forbidden (server.pass_status)
    │   ├── NotFound                        not_found       not_found
    │   │   ├── UnknownPerson               unknown_person  not_found    (server.presence)
    │   │   └── UnknownBuilding             not_found       not_found    (server.presence)
    │   ├── Conflict                        conflict        conflict
    │   │   ├── IllegalTransition           dept_stage_pending | already_decided | already_arrived |
    │   │   │                               not_active | not_rejected | not_approved   (workflow)
    │   │   └── PassStatusError             bad_status | not_on_hold | already_arrived |
    │   │                                   not_awaiting_arrival | no_scope   (server.pass_status)
    │   ├── TooLarge                        body_too_large | photo_too_large  too_large
    │   ├── TooManyRequests                 too_many_requests  throttled  (retry_after_s)
    │   └── Unavailable                     unavailable     unavailable
    ├── StorageError (server.storage)       storage         unavailable
    ├── ConfigError (shared.errors)         bad_config      (refused at start: ``server check-config``)
    └── DataDirError (server.datadir)       ...             (refused at start)

Any other :class:`~shared.errors.CampusPassError` is a ``bad_request``. Codes are snake_case and
never change meaning; a message names the bad value and what was expected.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shared.errors import CampusPassError


class Category(StrEnum):
    """What kind of failure an error is (the web layer turns it into an HTTP status)."""

    BAD_REQUEST = "bad_request"
    """The request is malformed (a body that is not JSON, a parameter out of range)."""
    INVALID = "invalid"
    """Well-formed, but a field has a wrong value (the message names the field)."""
    UNAUTHENTICATED = "unauthenticated"
    """Nobody is logged in."""
    FORBIDDEN = "forbidden"
    """The person may not do this (role, department scope)."""
    NOT_FOUND = "not_found"
    """No such thing (or not visible to this person: the same answer)."""
    CONFLICT = "conflict"
    """The current state does not allow it (an illegal transition, a duplicate)."""
    GONE = "gone"
    """It existed but is no longer usable (an expired one-time code)."""
    TOO_LARGE = "too_large"
    """The upload or body is larger than allowed."""
    THROTTLED = "throttled"
    """Too many attempts; ``retry_after_s`` says when to try again."""
    UNAVAILABLE = "unavailable"
    """A dependency (database, gateway) is failing; try again shortly."""


class DomainError(CampusPassError):
    """Base of the domain's errors.

    Args:
        message: what went wrong, naming the bad value and what was expected.
        code: stable machine code (default the class's).
        category: override of the class's :class:`Category`.
        detail: extra JSON-friendly facts placed next to code and message in the API's error
            envelope (e.g. ``{"missing": [...]}``).
    """

    code = "bad_request"
    category: Category = Category.BAD_REQUEST

    def __init__(self, message: str, *, code: str | None = None, category: Category | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code)
        if category is not None:
            self.category = category
        self.detail: dict[str, Any] = detail or {}


class BadRequest(DomainError):
    """The request is malformed. Code ``bad_request``."""


class InvalidField(DomainError):
    """A field has a wrong value (the message names the field). Code ``invalid_field``."""

    code = "invalid_field"
    category = Category.INVALID


class NotLoggedIn(DomainError):
    """No valid session. Code ``not_logged_in``."""

    code = "not_logged_in"
    category = Category.UNAUTHENTICATED


class Forbidden(DomainError):
    """Logged in but not allowed. Code ``forbidden``."""

    code = "forbidden"
    category = Category.FORBIDDEN


class NotFound(DomainError):
    """No such thing (or not visible to the person). Code ``not_found``."""

    code = "not_found"
    category = Category.NOT_FOUND


class Conflict(DomainError):
    """The request conflicts with the current state. Code ``conflict``."""

    code = "conflict"
    category = Category.CONFLICT


class TooLarge(DomainError):
    """An upload or body larger than allowed. Code ``body_too_large``."""

    code = "body_too_large"
    category = Category.TOO_LARGE


class TooManyRequests(DomainError):
    """Throttled. Code ``too_many_requests``.

    Attributes:
        retry_after_s: seconds until the next attempt may succeed (≥ 1; also in ``detail``).
    """

    code = "too_many_requests"
    category = Category.THROTTLED

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        retry = max(1, int(retry_after_s))
        super().__init__(message, code=code, detail={"retry_after_s": retry})
        self.retry_after_s = retry


class Unavailable(DomainError):
    """A dependency is failing; try again shortly. Code ``unavailable``."""

    code = "unavailable"
    category = Category.UNAVAILABLE
