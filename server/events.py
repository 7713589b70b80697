"""Person events: how the workflow tells the pass service that something changed.

The check-in and return-application workflow publishes an event after its transaction
commits; subscribers (pass status and issuance, notifications) react. Subscribers run in
order, awaited by :meth:`PersonEvents.publish`; an exception in one is logged and does not
stop the others or undo the committed change (they must be idempotent: the same event may
be published again by a retry).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

log = logging.getLogger(__name__)

EventKind = Literal[
    "checkin_submitted",  # detail: {"day": "YYYY-MM-DD", "abnormal": bool, "same_as_yesterday": bool}
    "application_submitted",
    "application_dept_approved",
    "application_approved",  # final (school) approval: the person may get a black pass
    "application_rejected",  # detail: {"stage": "dept"|"school", "reason": str}
    "application_withdrawn",
    "application_expired",
    "application_revoked",  # detail: {"reason": str}
    "arrived",  # arrival confirmed by a counsellor: green
    "hold_set",  # detail: {"reason": str}
    "hold_cleared",
]


@dataclass(frozen=True, slots=True)
class PersonEvent:
    """Something happened to a person.

    Attributes:
        kind: what happened (see :data:`EventKind`).
        person_id: ``people.id``.
        at: when, aware UTC.
        actor_id: who did it (``people.id``), None for the system (background jobs).
        detail: small JSON-friendly facts about the event.
    """

    kind: EventKind
    person_id: int
    at: datetime
    actor_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[PersonEvent], Awaitable[None]]


class PersonEvents:
    """A small in-process publish/subscribe hub, one per application (``web.AppKey``)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(event)`` for every event published from now on."""
        self._subscribers.append(callback)

    async def publish(self, event: PersonEvent) -> None:
        """Deliver ``event`` to every subscriber in order; failures are logged, not raised."""
        for callback in self._subscribers:
            try:
                await callback(event)
            except Exception:
                log.exception("subscriber %r failed on %s for person %d", callback, event.kind, event.person_id)
