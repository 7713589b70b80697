"""Check-in reminders by SMS: one tap (one person or everyone not yet checked in) and the
automatic reminder at ``[reminders] auto_at`` local time (issue 9; docs/dashboards.md).

Throttle: at most one reminder per person per check-in day, manual and automatic together. The
reminder row (primary key person + day) and the SMS (outbox id ``checkin_reminder:<id>:<day>``,
itself idempotent) are written in one transaction, so two taps, a tap racing the job, or a job
restarted after a crash all send one SMS. The reviewers' ``/review/remind`` button calls this
service too. Delivery is the outbox sender's job, after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from server.config import ServerConfig
from server.errors import Forbidden
from server.scope import visible_departments
from server.storage import Database
from server.storage.dashboard import EXPECTED_ROLES, REMINDER_PURPOSE, DashboardStore, ReminderTarget
from server.storage.people import Person
from server.storage.sms import SmsOutboxStore
from shared.campus_time import checkin_day, local, parse_hhmm
from shared.clock import Clock, to_unix
from shared.errors import ConfigError

log = logging.getLogger(__name__)

PURPOSE = REMINDER_PURPOSE


@dataclass(frozen=True, slots=True)
class ReminderOutcome:
    """What a reminder request did (person ids; Asia/Shanghai ``day``).

    Attributes:
        day: the check-in day.
        reminded: reminded now (an SMS was queued).
        already_reminded: skipped: reminded earlier that day.
        checked_in: skipped: they have checked in.
        no_phone: skipped: no mobile number on record.
    """

    day: date
    reminded: list[int] = field(default_factory=list)
    already_reminded: list[int] = field(default_factory=list)
    checked_in: list[int] = field(default_factory=list)
    no_phone: list[int] = field(default_factory=list)


def message_id(person_id: int, day: date) -> str:
    """The outbox id of a person's reminder of ``day`` (the idempotency key)."""
    return f"{PURPOSE}:{person_id}:{day.isoformat()}"


class Reminders:
    """Send check-in reminders.

    Args:
        db: the open database.
        clock: time source.
        config: server configuration (``[reminders]``; the text is ``[workflow]
            sms_checkin_reminder``, signed with ``[sms] sender_name``).
        sms_wake: called after a commit that queued SMS (the outbox sender's ``wake``).

    Raises:
        ConfigError: ``[reminders] auto_at`` is not ``HH:MM``.
    """

    def __init__(self, db: Database, clock: Clock, config: ServerConfig,
                 sms_wake: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.sms_wake = sms_wake
        self.store = DashboardStore(db)
        try:
            self.auto_at = parse_hhmm(config.reminders.auto_at)
        except ValueError as exc:
            raise ConfigError(f"reminders.auto_at: {exc}") from None

    def today(self) -> date:
        """The current check-in day."""
        return checkin_day(self.clock.now())

    async def remind(self, actor: Person, person_ids: Sequence[int]) -> ReminderOutcome:
        """Remind the given people (today). Everyone must be a student or staff member of
        ``actor``'s departments.

        Raises:
            Forbidden: 403 ``department_scope`` when any id is unknown, not a student or staff
                member, or outside the actor's departments (the same answer; nothing is sent).
        """
        day = self.today()
        targets = await self.store.reminder_targets(person_ids, day)
        scope = visible_departments(actor)
        if len(targets) != len(set(person_ids)) or any(
                t.role not in EXPECTED_ROLES or (scope is not None and t.department not in scope) for t in targets):
            raise Forbidden("some of these people are not students or staff of your departments",
                            code="department_scope")
        return await self._send(targets, day, kind="manual", actor_id=actor.id)

    async def remind_all_missing(self, actor: Person, department: str | None = None) -> ReminderOutcome:
        """Remind the students in ``actor``'s departments (or the one ``department``) who have not
        checked in today (staff are not a counsellor's to chase: the automatic reminder reaches
        them, addressed as staff).

        Raises:
            Forbidden: 403 ``department_scope`` for a department that is not the actor's.
        """
        scope = visible_departments(actor)
        if department is not None:
            if scope is not None and department not in scope:
                raise Forbidden(f"department {department} is not one of yours", code="department_scope")
            scope = (department,)
        day = self.today()
        ids = await self.store.missing_ids(scope, day, roles=("student",))
        return await self._send(await self.store.reminder_targets(ids, day), day, kind="manual", actor_id=actor.id)

    async def run_auto(self, now: datetime | None = None) -> ReminderOutcome | None:
        """The automatic reminder: once per day, at or after ``auto_at`` local time, remind
        everyone expected who has not checked in. Returns None when not due (too early, already
        done today, or ``[reminders] auto = false``)."""
        now = now or self.clock.now()
        if not self.config.reminders.auto or local(now).time() < self.auto_at:
            return None
        day = checkin_day(now)
        if await self.store.auto_run_of(day) is not None:
            return None
        # Recorded only once done: a run cut short (a crash) is simply run again at the next
        # look, and the per-person reminder rows and outbox ids keep it to one SMS each.
        ids = await self.store.missing_ids(None, day)
        outcome = await self._send(await self.store.reminder_targets(ids, day), day, kind="auto", actor_id=None,
                                   now=now)
        async with self.db.transaction() as conn:
            await DashboardStore.record_auto_run(conn, day, to_unix(now), len(outcome.reminded))
        log.info("automatic check-in reminder for %s: %d reminded, %d already, %d without phone", day,
                 len(outcome.reminded), len(outcome.already_reminded), len(outcome.no_phone))
        return outcome

    async def _send(self, targets: Sequence[ReminderTarget], day: date, *, kind: str,
                    actor_id: int | None, now: datetime | None = None) -> ReminderOutcome:
        out = ReminderOutcome(day)
        now_s = to_unix(now or self.clock.now())
        cfg = self.config
        async with self.db.transaction() as conn:
            for t in targets:
                if t.checked_in:
                    out.checked_in.append(t.person_id)
                elif t.reminded:
                    out.already_reminded.append(t.person_id)
                elif not t.phone:
                    out.no_phone.append(t.person_id)
                else:
                    sms_id = message_id(t.person_id, day)
                    template = (cfg.workflow.sms_checkin_reminder_staff if t.role == "staff"
                                else cfg.workflow.sms_checkin_reminder)  # 老师, not 同学
                    body = template.format(
                        sender=cfg.sms.sender_name, name=t.name, number=t.number, date=day.isoformat(), stage="",
                        reason="", phone=cfg.workflow.prevention_office_phone)
                    params = {"name": t.name, "number": t.number, "date": day.isoformat()}
                    if not await SmsOutboxStore.enqueue(conn, message_id=sms_id, phone=t.phone, body=body,
                                                        purpose=PURPOSE, now_s=now_s, person_id=t.person_id,
                                                        params=params):
                        out.already_reminded.append(t.person_id)  # queued meanwhile by another path
                        continue
                    await DashboardStore.add_reminder(conn, person_id=t.person_id, day=day, at_s=now_s, kind=kind,
                                                      actor_id=actor_id, sms_id=sms_id)
                    out.reminded.append(t.person_id)
        if out.reminded:
            self.sms_wake()
        return out
