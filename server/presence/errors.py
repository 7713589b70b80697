"""Errors of stays, tracing and occupancy (stable codes; the web layer maps each to a status).

::

    CampusPassError
     └── PresenceError
          ├── NotPermitted    forbidden       the actor's role may not do this
          ├── PeriodError     invalid_field   a period, threshold, capacity or reason is unusable
          ├── UnknownPerson   unknown_person  no person has that number
          └── UnknownBuilding not_found       no building has that code
"""

from __future__ import annotations

from shared.errors import CampusPassError


class PresenceError(CampusPassError):
    """Base of the presence errors. Code ``presence_error``."""

    code = "presence_error"


class NotPermitted(PresenceError):
    """The actor's role may not run this. Code ``forbidden``."""

    code = "forbidden"


class PeriodError(PresenceError):
    """A period, threshold, capacity or reason is unusable (the message names it). Code ``invalid_field``."""

    code = "invalid_field"


class UnknownPerson(PresenceError):
    """No person has the number given. Code ``unknown_person``."""

    code = "unknown_person"


class UnknownBuilding(PresenceError):
    """No building has the code given. Code ``not_found``."""

    code = "not_found"
