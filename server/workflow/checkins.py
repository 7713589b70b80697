"""The daily health check-in (docs/architecture.md §2.2): validation, the abnormal rule, storage and
notification.

Validation table (each failure is one field error; all are reported together, HTTP 422
``invalid_field`` with ``fields: [{field, code, message}]``):

================== ================================ =========================================
field              rule                             error code
================== ================================ =========================================
location_kind      one of :data:`LOCATION_KINDS`    ``required`` / ``bad_choice``
region_code        6-digit GB/T 2260 code, required ``required`` / ``region_not_6_digits`` /
                   for ``same_city`` and            ``region_unknown_province``
                   ``other_province`` (optional on
                   campus and abroad)
temperature_c      number, 34.0–42.5 °C             ``required`` / ``temperature_out_of_range``
symptoms           non-empty list of                ``required`` / ``bad_choice`` /
                   :data:`SYMPTOMS`, no repeats,    ``none_exclusive`` / ``duplicate``
                   ``none`` alone
case_contact_14d   true or false                    ``required``
risk_area_14d      true or false                    ``required``
case_status        one of :data:`CASE_STATUSES`     ``required`` / ``bad_choice``
remarks            at most 500 characters           ``too_long``
attest             must be true                     ``attest_required``
================== ================================ =========================================

An answer is abnormal (:func:`is_abnormal`) when the temperature is ≥ 37.3 °C, any symptom is
given, there was case contact or a risk-area stay, or the case status is not ``none``. An
abnormal check-in alerts the person's counsellors (their list, and an SMS once per person per
day) and, in the same transaction as the check-in itself, puts a black or green person on hold
(:meth:`server.pass_status.PassService.checked_in`); a normal one brings today's pass.

A person cannot undo their own abnormal answer: editing the same day's check-in back to normal
keeps the abnormal answer on record (``abnormal_on_record``; the replaced answers stay in
``checkin_revisions``, :meth:`CheckinService.replaced`) and the hold stays until a counsellor
clears it (or, when the school configures ``[passes] abnormal_hold_cleared_by =
"counsellor_or_later_checkin"``, a normal check-in on a later day).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from server.config import ServerConfig
from server.errors import Conflict, InvalidField
from server.pass_status import PassService
from server.storage import Database
from server.storage.checkins import Checkin, CheckinAnswers, Checkins, MissingPerson, ReplacedAnswers
from server.storage.pass_status import StatusRow
from server.storage.people import People, Person
from server.storage.sms import SmsOutboxStore
from server.workflow.regions import region_problem
from shared.campus_time import checkin_day
from shared.clock import Clock, to_unix

log = logging.getLogger(__name__)

LOCATION_KINDS = ("on_campus", "same_city", "other_province", "abroad")
REGION_REQUIRED = ("same_city", "other_province")
SYMPTOMS = ("none", "fever", "cough", "sore_throat", "fatigue", "shortness_of_breath", "loss_of_taste_smell",
            "diarrhoea", "other")
CASE_STATUSES = ("none", "suspected", "confirmed", "asymptomatic")
MIN_TEMPERATURE_C = 34.0
MAX_TEMPERATURE_C = 42.5
FEVER_C = 37.3
MAX_REMARKS = 500
YES_NO_QUESTIONS = ("case_contact_14d", "risk_area_14d")
"""The yes/no questions, in the order the form asks them; "yes" to any is abnormal. A new one is a
line here, a field of :class:`CheckinBody` and of :class:`~server.storage.checkins.CheckinAnswers`
(with its column), an entry of :data:`NORMAL_ANSWERS` and its text in each language file; the API,
the form and the lists of abnormal answers follow from these."""

NORMAL_ANSWERS: dict[str, Any] = {
    "location_kind": "on_campus", "temperature_c": 36.5, "symptoms": ["none"], "case_contact_14d": False,
    "risk_area_14d": False, "case_status": "none", "attest": True,
}
"""A complete check-in body with nothing to report (the walkthrough, the benchmark and the tests
start from it)."""


@dataclass(frozen=True)
class CheckinBody:
    """Today's answers as submitted (the API body; the page's form is read into it), or
    ``{"same_as_yesterday": true}`` to copy yesterday's. Types are checked by the route registry,
    everything else once by :func:`validate_answers`."""

    location_kind: str | None = None
    region_code: str | None = None
    temperature_c: float | None = None
    symptoms: list[str] | None = None
    case_contact_14d: bool | None = None
    risk_area_14d: bool | None = None
    case_status: str | None = None
    remarks: str = ""
    attest: bool = False
    same_as_yesterday: bool = False


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: its JSON name, a stable code and a message naming the value."""

    field: str
    code: str
    message: str


class InvalidAnswers(InvalidField):
    """One or more fields are invalid (category invalid). Code ``invalid_field``; ``detail.fields`` lists
    every :class:`FieldError` as ``{field, code, message}``."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.field}: {first.message}{more}",
                         detail={"fields": [{"field": e.field, "code": e.code, "message": e.message}
                                            for e in errors]})


def validate_answers(raw: Mapping[str, Any] | CheckinBody) -> CheckinAnswers:
    """Check the answers of a check-in against the validation table (module docstring).

    Args:
        raw: the body (:class:`CheckinBody`) or its JSON fields as a mapping (``location_kind``,
            ``region_code``, ``temperature_c``, ``symptoms``, the :data:`YES_NO_QUESTIONS`,
            ``case_status``, ``remarks``, ``attest``); missing values may be absent or None.

    Returns:
        The normalised answers (symptoms as a tuple, remarks stripped).

    Raises:
        InvalidAnswers: every failing field at once.
    """
    errors: list[FieldError] = []
    get = raw.get if isinstance(raw, Mapping) else (lambda name: getattr(raw, name, None))

    def bad(name: str, code: str, message: str) -> None:
        errors.append(FieldError(name, code, message))

    kind = get("location_kind")
    if kind is None or kind == "":
        bad("location_kind", "required", f"location_kind is required; expected one of {list(LOCATION_KINDS)}")
    elif kind not in LOCATION_KINDS:
        bad("location_kind", "bad_choice", f"location_kind {kind!r} is not one of {list(LOCATION_KINDS)}")

    region = get("region_code")
    if region in (None, ""):
        region = None
        if kind in REGION_REQUIRED:
            bad("region_code", "required", f"region_code is required when location_kind is {kind}")
    else:
        problem = region_problem(region)
        if problem == "region_not_6_digits":
            bad("region_code", problem, f"region_code {region!r} is not a 6-digit GB/T 2260 code")
        elif problem == "region_unknown_province":
            bad("region_code", problem, f"region_code {region!r} does not start with a province-level code")
        elif problem is not None:
            bad("region_code", problem, f"region_code {region!r} is no division in the GB/T 2260 table")

    temp = get("temperature_c")
    if temp is None:
        bad("temperature_c", "required", "temperature_c is required (°C)")
    elif isinstance(temp, bool) or not isinstance(temp, (int, float)):
        bad("temperature_c", "temperature_out_of_range", f"temperature_c {temp!r} is not a number of °C")
    elif not MIN_TEMPERATURE_C <= float(temp) <= MAX_TEMPERATURE_C:
        bad("temperature_c", "temperature_out_of_range",
            f"temperature_c {temp} °C is outside {MIN_TEMPERATURE_C}–{MAX_TEMPERATURE_C} °C")

    symptoms = get("symptoms")
    if not symptoms:
        bad("symptoms", "required", 'symptoms is required; send ["none"] when there are none')
        symptoms = ()
    elif not isinstance(symptoms, (list, tuple)) or not all(isinstance(s, str) for s in symptoms):
        bad("symptoms", "bad_choice", f"symptoms {symptoms!r} is not a list of codes")
        symptoms = ()
    else:
        unknown = [s for s in symptoms if s not in SYMPTOMS]
        if unknown:
            bad("symptoms", "bad_choice", f"symptoms {unknown} are not among {list(SYMPTOMS)}")
        elif len(set(symptoms)) != len(symptoms):
            bad("symptoms", "duplicate", f"symptoms {list(symptoms)} repeat a code")
        elif "none" in symptoms and len(symptoms) > 1:
            bad("symptoms", "none_exclusive", f'symptoms {list(symptoms)}: "none" cannot be combined with a symptom')

    for name in YES_NO_QUESTIONS:
        if not isinstance(get(name), bool):
            bad(name, "required", f"{name} is required: true or false")

    status = get("case_status")
    if status is None or status == "":
        bad("case_status", "required", f"case_status is required; expected one of {list(CASE_STATUSES)}")
    elif status not in CASE_STATUSES:
        bad("case_status", "bad_choice", f"case_status {status!r} is not one of {list(CASE_STATUSES)}")

    remarks = get("remarks") or ""
    if not isinstance(remarks, str):
        bad("remarks", "too_long", "remarks must be text")
        remarks = ""
    elif len(remarks) > MAX_REMARKS:
        bad("remarks", "too_long", f"remarks has {len(remarks)} characters; at most {MAX_REMARKS}")

    if get("attest") is not True:
        bad("attest", "attest_required", "attest must be true: confirm that the answers are truthful")

    if errors:
        raise InvalidAnswers(errors)
    assert isinstance(temp, (int, float)) and isinstance(kind, str) and isinstance(status, str)
    yes_no: dict[str, Any] = {name: bool(get(name)) for name in YES_NO_QUESTIONS}
    return CheckinAnswers(
        location_kind=kind, region_code=region, temperature_c=round(float(temp), 1), symptoms=tuple(symptoms),
        case_status=status, remarks=remarks.strip(), **yes_no,
    )


def is_abnormal(answers: CheckinAnswers) -> bool:
    """True when the answers need a counsellor's attention (docs/architecture.md §2.2): temperature
    ≥ 37.3 °C, any symptom, "yes" to a yes/no question (case contact, a risk-area stay), or a case
    status other than none."""
    return (answers.temperature_c >= FEVER_C or answers.symptoms != ("none",)
            or any(getattr(answers, name) for name in YES_NO_QUESTIONS) or answers.case_status != "none")


async def todays_checkin(db: Database, person_id: int, now: datetime) -> Checkin | None:
    """Today's check-in of a person, or None (for the pass service).

    Args:
        db: the open database.
        person_id: ``people.id``.
        now: the current instant (aware); "today" is its Asia/Shanghai day.

    Returns:
        The :class:`~server.storage.checkins.Checkin` (``.day``, ``.abnormal``, ``.answers``) or None.
    """
    return await Checkins(db).for_day(person_id, checkin_day(now))


@dataclass(frozen=True, slots=True)
class CheckinResult:
    """What a submission did: the stored check-in, whether it was the day's first, and the
    person's pass status after it (``status.status == "hold"`` with ``hold_kind ==
    "abnormal_checkin"`` after a normal answer: the hold stays)."""

    checkin: Checkin
    created: bool
    status: StatusRow


class CheckinService:
    """Submit and read daily check-ins.

    Args:
        db: the open database.
        clock: time source.
        config: server configuration (``[workflow]`` SMS template, ``[sms]`` sender name).
        passes: the pass service, whose status follows each check-in inside its transaction.
        sms_wake: called after a commit that enqueued SMS (the sender's ``wake``).
    """

    def __init__(self, db: Database, clock: Clock, config: ServerConfig, passes: PassService,
                 sms_wake: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.passes = passes
        self.sms_wake = sms_wake
        self.store = Checkins(db)

    async def today(self, person_id: int) -> Checkin | None:
        """The person's check-in for the current day, or None."""
        return await todays_checkin(self.db, person_id, self.clock.now())

    async def history(self, person_id: int, first: date, last: date) -> list[Checkin]:
        """The person's check-ins from ``first`` to ``last`` (inclusive), newest first."""
        return await self.store.history(person_id, first, last)

    async def replaced(self, person_id: int, first: date, last: date) -> list[ReplacedAnswers]:
        """The answers the person's same-day edits replaced, days ``first`` to ``last``
        (inclusive), newest first: with :meth:`history`, every answer given."""
        return await self.store.replaced(person_id, first, last)

    async def missing(self, departments: Sequence[str] | None) -> list[MissingPerson]:
        """Students and staff of ``departments`` (None: all) who have not checked in today."""
        return await self.store.missing_in_departments(departments, checkin_day(self.clock.now()))

    async def purge_old(self, now: datetime) -> int:
        """Delete check-ins older than ``[workflow] checkin_retention_days`` (run by the job)."""
        keep_from = checkin_day(now) - timedelta(days=self.config.workflow.checkin_retention_days)
        return await self.store.delete_before(keep_from)

    async def submit(self, person: Person, raw: Mapping[str, Any] | CheckinBody) -> CheckinResult:
        """Validate and store today's check-in (a resubmission the same day replaces it).

        Raises:
            InvalidAnswers: 422 with every failing field.
        """
        return await self._store(person, validate_answers(raw), same_as_yesterday=False)

    async def same_as_yesterday(self, person: Person) -> CheckinResult:
        """Copy yesterday's answers as today's check-in, recorded as "no change since yesterday"
        (the one tap is the person's declaration that nothing changed, so no separate attestation).

        Raises:
            Conflict: 409 ``no_checkin_yesterday`` when there is nothing to copy.
        """
        yesterday = checkin_day(self.clock.now()) - timedelta(days=1)
        previous = await self.store.for_day(person.id, yesterday)
        if previous is None:
            raise Conflict(f"there is no check-in for {yesterday.isoformat()} to copy; fill in the form",
                           code="no_checkin_yesterday")
        return await self._store(person, previous.answers, same_as_yesterday=True)

    async def _store(self, person: Person, answers: CheckinAnswers, *, same_as_yesterday: bool) -> CheckinResult:
        now = self.clock.now()
        now_s = to_unix(now)
        day = checkin_day(now)
        abnormal = is_abnormal(answers)
        counsellors = await People(self.db).counsellors_of(person.department) if (
            abnormal and person.department and self.config.workflow.notify_counsellors_by_sms) else []
        enqueued = False
        async with self.db.transaction(person_id=person.id) as conn:
            stored, created = await Checkins.upsert(conn, person_id=person.id, day=day, answers=answers,
                                                        abnormal=abnormal, same_as_yesterday=same_as_yesterday,
                                                        now_s=now_s)
            for counsellor in counsellors:
                if not counsellor.phone:
                    continue
                body = self.config.workflow.sms_abnormal.format(
                    sender=self.config.sms.sender_name, name=person.name, number=person.number, date=day.isoformat(),
                    stage="", reason="", phone=self.config.workflow.prevention_office_phone)
                enqueued |= await SmsOutboxStore.enqueue(
                    conn, message_id=f"checkin_abnormal:{person.id}:{day.isoformat()}:{counsellor.id}",
                    phone=counsellor.phone, body=body, purpose="checkin_abnormal", now_s=now_s,
                    person_id=counsellor.id,
                    params={"name": person.name, "number": person.number, "date": day.isoformat()})
            status = await self.passes.checked_in(conn, person.id, day.isoformat(), abnormal, now)
        if enqueued:
            self.sms_wake()
        return CheckinResult(stored, created, status)
