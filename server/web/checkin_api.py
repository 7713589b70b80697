"""JSON API of the daily health check-in (docs/architecture.md §2.2).

``GET/POST /api/v1/checkins/today`` and ``GET /api/v1/checkins?from=&to=`` (own history). The
field names are the contract other front ends use; see :mod:`server.workflow.checkins` for the
validation table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from server.storage.checkins import Checkin, ReplacedAnswers
from server.web import auth, state
from server.web.application_state import checkin_service
from server.web.errors import InvalidField
from server.web.registry import Routes
from server.workflow.checkins import FieldError, InvalidAnswers
from shared.campus_time import checkin_day
from shared.clock import from_unix

routes = Routes(tag="checkins")

CHECKIN_ROLES = ("student", "staff")
MAX_HISTORY_DAYS = 366


@dataclass(frozen=True)
class CheckinBody:
    """Today's answers, or ``{"same_as_yesterday": true}`` to copy yesterday's."""

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


@dataclass(frozen=True)
class CheckinOut:
    """One check-in: the latest answers of the day. ``day`` is the Asia/Shanghai day; times are
    ISO 8601 UTC. ``abnormal`` is about these answers; ``abnormal_on_record`` is true once any
    answer of the day was abnormal (an edit back to normal does not undo it)."""

    id: int
    day: str
    location_kind: str
    region_code: str | None
    temperature_c: float
    symptoms: list[str]
    case_contact_14d: bool
    risk_area_14d: bool
    case_status: str
    remarks: str
    abnormal: bool
    same_as_yesterday: bool
    submitted_at: str
    updated_at: str
    revisions: int
    abnormal_on_record: bool


@dataclass(frozen=True)
class ReplacedOut:
    """Answers a same-day edit replaced (``revision``: which submission of the day it was;
    ``submitted_at``: ISO 8601 UTC)."""

    day: str
    revision: int
    location_kind: str
    region_code: str | None
    temperature_c: float
    symptoms: list[str]
    case_contact_14d: bool
    risk_area_14d: bool
    case_status: str
    remarks: str
    abnormal: bool
    same_as_yesterday: bool
    submitted_at: str


@dataclass(frozen=True)
class TodayOut:
    """Today's day and check-in (null when not done yet)."""

    day: str
    checkin: CheckinOut | None


@dataclass(frozen=True)
class SubmitOut:
    """The stored check-in; ``created`` is false for a same-day resubmission. ``pass_status``
    and ``hold_kind`` are the pass status after it: ``hold`` / ``abnormal_checkin`` after a
    normal answer means the hold of an earlier abnormal answer stays (a counsellor clears it)."""

    checkin: CheckinOut
    created: bool
    pass_status: str
    hold_kind: str | None


@dataclass(frozen=True)
class HistoryOut:
    """Own check-ins between ``from`` and ``to`` (inclusive), newest first, and the answers
    same-day edits replaced in those days (``replaced``, newest first): every answer given."""

    checkins: list[CheckinOut]
    replaced: list[ReplacedOut]


def _shallow(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict, field by field (``dataclasses.asdict`` deep-copies every
    value, a measurable share of a check-in request; these values are fresh per request)."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def checkin_json(c: Checkin) -> dict[str, Any]:
    """The JSON form of a check-in (:class:`CheckinOut`)."""
    a = c.answers
    return _shallow(CheckinOut(
        id=c.id, day=c.day.isoformat(), location_kind=a.location_kind, region_code=a.region_code,
        temperature_c=a.temperature_c, symptoms=list(a.symptoms), case_contact_14d=a.case_contact_14d,
        risk_area_14d=a.risk_area_14d, case_status=a.case_status, remarks=a.remarks, abnormal=c.abnormal,
        same_as_yesterday=c.same_as_yesterday, submitted_at=from_unix(c.submitted_at_s).isoformat(),
        updated_at=from_unix(c.updated_at_s).isoformat(), revisions=c.revisions,
        abnormal_on_record=c.abnormal_on_record,
    ))


def replaced_json(r: ReplacedAnswers) -> dict[str, Any]:
    """The JSON form of replaced answers (:class:`ReplacedOut`)."""
    a = r.answers
    return _shallow(ReplacedOut(
        day=r.day.isoformat(), revision=r.revision, location_kind=a.location_kind, region_code=a.region_code,
        temperature_c=a.temperature_c, symptoms=list(a.symptoms), case_contact_14d=a.case_contact_14d,
        risk_area_14d=a.risk_area_14d, case_status=a.case_status, remarks=a.remarks, abnormal=r.abnormal,
        same_as_yesterday=r.same_as_yesterday, submitted_at=from_unix(r.submitted_at_s).isoformat(),
    ))


@routes.api("GET", "/api/v1/checkins/today", roles=CHECKIN_ROLES, response=TodayOut,
            summary="Today's check-in (Asia/Shanghai day), or null")
async def get_today(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    service = checkin_service(request.app)
    checkin = await service.today(user.id)
    day = checkin_day(request.app[state.CLOCK].now())
    return web.json_response({"day": day.isoformat(), "checkin": checkin_json(checkin) if checkin else None})


@routes.api("POST", "/api/v1/checkins/today", roles=CHECKIN_ROLES, body=CheckinBody, response=SubmitOut,
            summary="Submit or update today's check-in (idempotent per day)")
async def post_today(request: web.Request, body: CheckinBody) -> web.Response:
    """Errors: 422 ``invalid_field`` with ``fields: [{field, code, message}]``; 409
    ``no_checkin_yesterday`` for ``same_as_yesterday`` without a check-in yesterday."""
    user = await auth.require_user(request)
    service = checkin_service(request.app)
    if body.same_as_yesterday:
        answers = {k: v for k, v in _shallow(body).items()
                   if k not in ("same_as_yesterday", "attest", "remarks") and v is not None}
        if answers or body.remarks:
            raise InvalidAnswers([FieldError("same_as_yesterday", "exclusive",
                                             "same_as_yesterday copies yesterday's answers; send no other answers"
                                             f" (got {sorted(answers) or ['remarks']})")])
        result = await service.same_as_yesterday(user.person)
    else:
        result = await service.submit(user.person, _shallow(body))
    return web.json_response({"checkin": checkin_json(result.checkin), "created": result.created,
                              "pass_status": result.status.status, "hold_kind": result.status.hold_kind})


@routes.api("GET", "/api/v1/checkins", roles=CHECKIN_ROLES, response=HistoryOut,
            query={"from": "first day YYYY-MM-DD (default 13 days before to)",
                   "to": "last day YYYY-MM-DD (default today)"},
            summary="Own check-in history")
async def history(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    today = checkin_day(request.app[state.CLOCK].now())
    last = parse_day(request.query.get("to"), "to") or today
    first = parse_day(request.query.get("from"), "from") or last - timedelta(days=13)
    if first > last or (last - first).days >= MAX_HISTORY_DAYS:
        raise InvalidField(f"from {first} to {last}: expected from ≤ to and at most {MAX_HISTORY_DAYS} days",
                           code="invalid_field")
    service = checkin_service(request.app)
    rows = await service.history(user.id, first, last)
    replaced = await service.replaced(user.id, first, last) if any(c.revisions > 1 for c in rows) else []
    return web.json_response({"checkins": [checkin_json(c) for c in rows],
                              "replaced": [replaced_json(r) for r in replaced]})


def parse_day(text: str | None, name: str) -> date | None:
    """``YYYY-MM-DD`` of a query parameter, None when absent.

    Raises:
        InvalidField: not a date.
    """
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not YYYY-MM-DD") from None
