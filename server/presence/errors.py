"""Errors of stays, tracing and occupancy: branches of the server's one error tree
(:mod:`server.errors`), so the web layer maps them by category like every other domain error.

::

    DomainError (server.errors)
     ├── Forbidden
     │    └── NotPermitted     forbidden       the actor's role may not do this
     ├── InvalidField
     │    └── PeriodError      invalid_field   a period, threshold, capacity or reason is unusable
     └── NotFound
          ├── UnknownPerson    unknown_person  no person has that number
          └── UnknownBuilding  not_found       no building has that code
"""

from __future__ import annotations

from server.errors import Forbidden, InvalidField, NotFound


class NotPermitted(Forbidden):
    """The actor's role may not run this. Code ``forbidden``."""


class PeriodError(InvalidField):
    """A period, threshold, capacity or reason is unusable (the message names it). Code ``invalid_field``."""


class UnknownPerson(NotFound):
    """No person has the number given. Code ``unknown_person``."""

    code = "unknown_person"


class UnknownBuilding(NotFound):
    """No building has the code given. Code ``not_found``."""
