"""The reconciliation check: does every person's pass status agree with what their applications
and check-ins imply? (``campuspass server doctor --data DIR [--repair]``; also run at start,
its findings logged.)

Older versions applied the pass status after the workflow's commit, through an in-memory event
hub that logged and dropped a failure, so a database they wrote can hold an approval without a
black status, or a revoked application with a valid pass. What is implied:

================== ==============================================================================
the person's       expected pass status (a hold keeps it as the status it returns to)
newest deciding
application
================== ==============================================================================
``approved``       black
``arrived``        green
``revoked`` / none none, and no unexpired pass left off the revocation list
================== ==============================================================================

and the status row's latest check-in is the newest row of ``checkins`` (a missed abnormal one
puts a black or green person on hold). Each :class:`Difference` names the person, what was found
and what is expected. :func:`repair` mends each person in one transaction with the same rules
the workflow applies (:mod:`server.pass_status`): the status row, revocations of passes the
person may no longer hold, a fresh pass when due, the history (cause ``doctor``) and an audit
entry (``doctor_repair``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from server.pass_status import PassService, with_checkin
from server.storage.audit import AuditLog
from server.storage.pass_status import Status, StatusRow
from server.storage.passes import Passes
from server.storage.reconcile import PersonFacts, person_facts
from shared.clock import to_unix

log = logging.getLogger(__name__)

_EXPECTED: dict[str | None, Status] = {"approved": Status.BLACK, "arrived": Status.GREEN, "revoked": Status.NONE,
                                       None: Status.NONE}


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement: ``kind`` is ``status`` (the status disagrees with the applications),
    ``checkin`` (the status row missed the latest check-in) or ``live_pass`` (passes still valid
    for a person whose status is none or hold); ``found`` and ``expected`` in words."""

    person_id: int
    kind: str
    found: str
    expected: str

    def __str__(self) -> str:
        return f"person {self.person_id}: {self.kind}: found {self.found}; expected {self.expected}"


def _base(row: StatusRow) -> str:
    return row.base if row.status == "hold" else row.status


def differences_of(facts: PersonFacts) -> list[Difference]:
    """The disagreements of one person (pure; empty when consistent)."""
    out = []
    row, expected = facts.row, _EXPECTED[facts.decisive_state]
    if _base(row) != expected:
        shown = row.status if row.status != "hold" else f"hold (returning to {row.base})"
        out.append(Difference(facts.person_id, "status", shown,
                              f"{expected} (newest deciding application: {facts.decisive_state or 'none'})"))
    if expected != "none" and facts.checkin_day is not None and (
            row.last_checkin_day is None or facts.checkin_day > row.last_checkin_day
            or (facts.checkin_day == row.last_checkin_day and facts.checkin_abnormal != row.last_checkin_abnormal)):
        out.append(Difference(facts.person_id, "checkin",
                              f"latest check-in {row.last_checkin_day or 'none'}"
                              f"{' abnormal' if row.last_checkin_abnormal else ''}",
                              f"{facts.checkin_day}{' abnormal' if facts.checkin_abnormal else ''}"))
    if expected == "none" and row.status in ("none", "hold") and facts.live_passes:
        out.append(Difference(facts.person_id, "live_pass", f"{facts.live_passes} unexpired, unrevoked passes",
                              "every pass revoked"))
    elif row.status == "hold" and facts.live_passes:
        out.append(Difference(facts.person_id, "live_pass", f"{facts.live_passes} unexpired, unrevoked passes "
                              "while on hold", "every pass revoked"))
    return out


def mended(row: StatusRow, facts: PersonFacts, *, later_day_clears: bool = False) -> StatusRow:
    """The status row the rules imply for ``facts`` (pure): the expected status (a hold keeps
    holding and returns to it), then the latest check-in applied as the workflow applies one
    (a day the row missed whose answers were abnormal once is replayed as the abnormal answer
    and then the edit, so the hold it implies stays)."""
    expected = _EXPECTED[facts.decisive_state]
    if _base(row) != expected:
        if expected == "none":
            row = replace(row, status=Status.NONE, base=Status.NONE, hold_kind=None, hold_by_role=None,
                          hold_by=None, reason="no approved return (mended by the reconciliation check)")
        elif row.status == "hold":
            row = replace(row, base=expected)
        else:
            row = replace(row, status=expected, base=Status.NONE, hold_kind=None, hold_by_role=None, hold_by=None,
                          reason="")
    if row.status != "none" and facts.checkin_day is not None and (
            row.last_checkin_day is None or facts.checkin_day >= row.last_checkin_day):
        if facts.checkin_abnormal_on_record and not facts.checkin_abnormal and (
                row.last_checkin_day is None or facts.checkin_day > row.last_checkin_day):
            row = with_checkin(row, facts.checkin_day, True, later_day_clears=later_day_clears)
        row = with_checkin(row, facts.checkin_day, facts.checkin_abnormal, later_day_clears=later_day_clears)
    return row


async def find_differences(service: PassService, now: datetime) -> list[Difference]:
    """Every disagreement in the database, ordered by person (four bulk reads, no writes)."""
    out: list[Difference] = []
    for facts in await person_facts(service.db, to_unix(now)):
        out.extend(differences_of(facts))
    return out


async def repair(service: PassService, now: datetime) -> list[Difference]:
    """Mend every person with a difference, one transaction each (status row, revocations, a
    fresh pass when due, history with cause ``doctor``, audit entry ``doctor_repair``).

    Returns:
        The differences mended (as found before the repair).

    Raises:
        StorageError: the database failed (the person being mended is left as it was).
    """
    now_s = to_unix(now)
    mended_all: list[Difference] = []
    for facts in await person_facts(service.db, now_s):
        found = differences_of(facts)
        if not found:
            continue
        async with service.db.transaction() as conn:
            change = functools.partial(mended, facts=facts, later_day_clears=service.later_day_clears)
            row = await service.apply(conn, facts.person_id, now, change, cause="doctor", actor_id=None,
                                      reason="reconciliation check", reissue=True)
            if row.status in ("none", "hold"):
                await Passes.revoke_unexpired_of_subject_in(conn, await service.subject_of(facts.person_id),
                                                            "doctor: status " + row.status, "doctor", now_s)
            await AuditLog.add(conn, at_s=now_s, actor_id=None, actor_number="doctor", action="doctor_repair",
                               target_person_id=facts.person_id, detail={"differences": [str(d) for d in found],
                                                                         "status": row.status})
        mended_all.extend(found)
    if mended_all:
        log.warning("reconciliation check mended %d differences", len(mended_all))
    return mended_all
