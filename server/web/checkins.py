"""Check-ins (docs/architecture.md §2.2): today's check-in and one's own history, as JSON
(``/api/v1/checkins``) and as the mobile page (``/checkin``) with its home-page card.

The answers are declared once, by the domain (:class:`server.workflow.checkins.CheckinBody` as
submitted, :class:`server.storage.checkins.CheckinAnswers` as stored): the JSON shape of a
check-in is the stored answers with the day's bookkeeping around them (:data:`CheckinOut`), and
the page's form is read field by field from the body's types (:func:`form_answers`). A new
question therefore touches no file here. The body is parsed strictly by the route registry and
validated once by the domain (:func:`server.workflow.checkins.validate_answers`).

``GET /checkin`` shows the form (pre-filled with today's answers, else yesterday's) and the
one-tap "same as yesterday" button; ``POST /checkin`` and ``POST /checkin/same`` submit and
redirect home. Field errors re-render the form with each field's message.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, fields, make_dataclass
from datetime import timedelta
from typing import Any, get_type_hints

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from server.storage.checkins import Checkin, CheckinAnswers, ReplacedAnswers
from server.storage.pass_status import StatusRow
from server.web import auth, form_drafts, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.query import parse_day
from server.web.regions import form_region
from server.web.registry import Routes
from server.web.rendering import render
from server.workflow.checkins import (
    CASE_STATUSES,
    LOCATION_KINDS,
    SYMPTOMS,
    YES_NO_QUESTIONS,
    CheckinBody,
    CheckinResult,
    FieldError,
    InvalidAnswers,
)
from shared.campus_time import checkin_day
from shared.clock import from_unix

routes = Routes(tag="checkins")

CHECKIN_ROLES = ("student", "staff")
MAX_HISTORY_DAYS = 366

# -- the JSON shape: the stored answers, flat, inside the day's bookkeeping -----------------------

_ANSWER_HINTS = get_type_hints(CheckinAnswers)
_ANSWERS = tuple(f.name for f in fields(CheckinAnswers))


def _flat(name: str, doc: str, head: list[tuple[str, Any]], tail: list[tuple[str, Any]]) -> type:
    """A response dataclass: ``head`` fields, every answer of :class:`CheckinAnswers`, ``tail``."""
    answers = [(n, list[str] if n == "symptoms" else _ANSWER_HINTS[n]) for n in _ANSWERS]
    cls = make_dataclass(name, [*head, *answers, *tail], frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = doc
    return cls


CheckinOut = _flat(
    "CheckinOut",
    """One check-in: the latest answers of the day. ``day`` is the Asia/Shanghai day; times are
    ISO 8601 UTC. ``abnormal`` is about these answers; ``abnormal_on_record`` is true once any
    answer of the day was abnormal (an edit back to normal does not undo it).""",
    [("id", int), ("day", str)],
    [("abnormal", bool), ("same_as_yesterday", bool), ("submitted_at", str), ("updated_at", str),
     ("revisions", int), ("abnormal_on_record", bool)])
ReplacedOut = _flat(
    "ReplacedOut",
    """Answers a same-day edit replaced (``revision``: which submission of the day it was;
    ``submitted_at``: ISO 8601 UTC).""",
    [("day", str), ("revision", int)],
    [("abnormal", bool), ("same_as_yesterday", bool), ("submitted_at", str)])


@dataclass(frozen=True)
class TodayOut:
    """Today's day and check-in (null when not done yet)."""

    day: str
    checkin: CheckinOut | None  # type: ignore[valid-type]


@dataclass(frozen=True)
class SubmitOut:
    """The stored check-in; ``created`` is false for a same-day resubmission. ``pass_status``
    and ``hold_kind`` are the pass status after it: ``hold`` / ``abnormal_checkin`` after a
    normal answer means the hold of an earlier abnormal answer stays (a counsellor clears it)."""

    checkin: CheckinOut  # type: ignore[valid-type]
    created: bool
    pass_status: str
    hold_kind: str | None


@dataclass(frozen=True)
class HistoryOut:
    """Own check-ins between ``from`` and ``to`` (inclusive), newest first, and the answers
    same-day edits replaced in those days (``replaced``, newest first): every answer given."""

    checkins: list[CheckinOut]  # type: ignore[valid-type]
    replaced: list[ReplacedOut]  # type: ignore[valid-type]


def answers_json(a: CheckinAnswers) -> dict[str, Any]:
    """The answers as JSON fields (symptoms as a list)."""
    out = {name: getattr(a, name) for name in _ANSWERS}
    out["symptoms"] = list(a.symptoms)
    return out


def checkin_json(c: Checkin) -> dict[str, Any]:
    """The JSON form of a check-in (:data:`CheckinOut`)."""
    return {"id": c.id, "day": c.day.isoformat(), **answers_json(c.answers), "abnormal": c.abnormal,
            "same_as_yesterday": c.same_as_yesterday, "submitted_at": from_unix(c.submitted_at_s).isoformat(),
            "updated_at": from_unix(c.updated_at_s).isoformat(), "revisions": c.revisions,
            "abnormal_on_record": c.abnormal_on_record}


def replaced_json(r: ReplacedAnswers) -> dict[str, Any]:
    """The JSON form of replaced answers (:data:`ReplacedOut`)."""
    return {"day": r.day.isoformat(), "revision": r.revision, **answers_json(r.answers), "abnormal": r.abnormal,
            "same_as_yesterday": r.same_as_yesterday, "submitted_at": from_unix(r.submitted_at_s).isoformat()}


def _submitted(result: CheckinResult) -> dict[str, Any]:
    return {"checkin": checkin_json(result.checkin), "created": result.created,
            "pass_status": result.status.status, "hold_kind": result.status.hold_kind}


# -- the API -------------------------------------------------------------------------------------


@routes.api("GET", "/api/v1/checkins/today", roles=CHECKIN_ROLES, response=TodayOut,
            summary="Today's check-in (Asia/Shanghai day), or null")
async def get_today(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    checkin = await request.app[state.SERVICES].checkins.today(user.id)
    day = checkin_day(request.app[state.CLOCK].now())
    return web.json_response({"day": day.isoformat(), "checkin": checkin_json(checkin) if checkin else None})


@routes.api("POST", "/api/v1/checkins/today", roles=CHECKIN_ROLES, body=CheckinBody, response=SubmitOut,
            summary="Submit or update today's check-in (idempotent per day)")
async def post_today(request: web.Request, body: CheckinBody) -> web.Response:
    """Errors: 422 ``invalid_field`` with ``fields: [{field, code, message}]``; 409
    ``no_checkin_yesterday`` for ``same_as_yesterday`` without a check-in yesterday."""
    user = await auth.require_user(request)
    service = request.app[state.SERVICES].checkins
    if body.same_as_yesterday:
        given = sorted(name for name in _ANSWERS if name != "remarks" and getattr(body, name) is not None)
        if given or body.remarks:
            raise InvalidAnswers([FieldError("same_as_yesterday", "exclusive",
                                             "same_as_yesterday copies yesterday's answers; send no other answers"
                                             f" (got {given or ['remarks']})")])
        result = await service.same_as_yesterday(user.person)
    else:
        result = await service.submit(user.person, body)
    return web.json_response(_submitted(result))


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
    service = request.app[state.SERVICES].checkins
    rows = await service.history(user.id, first, last)
    replaced = await service.replaced(user.id, first, last) if any(c.revisions > 1 for c in rows) else []
    return web.json_response({"checkins": [checkin_json(c) for c in rows],
                              "replaced": [replaced_json(r) for r in replaced]})


# -- the page ------------------------------------------------------------------------------------

_BODY_HINTS = get_type_hints(CheckinBody)


def _form_value(form: MultiDictProxy[Any], name: str) -> Any:
    """One answer of a submitted form, read by the type the body declares for it."""
    hint = _BODY_HINTS[name]
    kinds = set(hint.__args__) if isinstance(hint, types.UnionType) else {hint}
    text = str(form.get(name, ""))
    if name == "region_code":
        return form_region(form.get(name)) or None
    if bool in kinds and name in YES_NO_QUESTIONS:
        return {"yes": True, "no": False}.get(text)
    if bool in kinds:
        return text == "yes"
    if any(getattr(k, "__origin__", None) is list for k in kinds):
        return [str(s) for s in form.getall(name, [])]
    if float in kinds:
        text = text.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return text  # passed on as typed, so validation names it
    return text if name == "remarks" else text or None


def form_answers(form: MultiDictProxy[Any]) -> CheckinBody:
    """The check-in answers of a submitted form as the API's body."""
    return CheckinBody(**{f.name: _form_value(form, f.name) for f in fields(CheckinBody)
                          if f.name != "same_as_yesterday"})


def _values(checkin: Checkin | None) -> dict[str, Any]:
    if checkin is None:
        return {"symptoms": [], "case_status": "none"}
    return answers_json(checkin.answers)


async def _form(request: web.Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                error: str | None = None, status: int = 200) -> web.StreamResponse:
    user = await auth.require_user(request)
    services = request.app[state.SERVICES]
    service = services.checkins
    today = checkin_day(request.app[state.CLOCK].now())
    current = await service.today(user.id)
    previous = await service.history(user.id, today - timedelta(days=1), today - timedelta(days=1))
    yesterday = previous[0] if previous else None
    history = await service.history(user.id, today - timedelta(days=13), today)
    replaced: dict[str, list[ReplacedAnswers]] = {}
    if any(c.revisions > 1 for c in history):
        for r in await service.replaced(user.id, today - timedelta(days=13), today):
            replaced.setdefault(r.day.isoformat(), []).append(r)
    pass_row = await services.passes.store.get(user.id)
    return await render(request, "checkin.html", {
        "today": today.isoformat(), "current": current, "yesterday": yesterday, "history": history,
        "replaced": replaced, "hold_stays": _hold_stays(request, pass_row),
        "values": values if values is not None else _values(current or yesterday), "field_errors": errors or {},
        "error": error, "location_kinds": LOCATION_KINDS, "symptom_codes": SYMPTOMS, "case_statuses": CASE_STATUSES,
    }, status=status)


def _as_values(body: CheckinBody) -> dict[str, Any]:
    return {f.name: getattr(body, f.name) for f in fields(CheckinBody)}


@routes.page("GET", "/checkin", roles=CHECKIN_ROLES, summary="check-in form")
async def checkin_form(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    kept = form_drafts.take(request, "/checkin", user.person.number)
    if kept is None:
        return await _form(request)
    values = _as_values(form_answers(MultiDictProxy(MultiDict(kept))))
    values["keep_attest"] = values["attest"]  # ticked for these very answers; a new day's form starts unticked
    response = await _form(request, values=values)
    form_drafts.drop(request, response)
    return response


@routes.page("POST", "/checkin", roles=CHECKIN_ROLES, summary="submit the check-in form", keep_form="/checkin")
async def checkin_post(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    answers = form_answers(await request.post())
    try:
        result = await request.app[state.SERVICES].checkins.submit(user.person, answers)
    except InvalidAnswers as exc:
        return await _form(request, values=_as_values(answers), errors={e.field: e.code for e in exc.errors},
                           error="invalid_field", status=status_of(exc))
    return _after_submit(request, result)


@routes.page("POST", "/checkin/same", roles=CHECKIN_ROLES, summary="one-tap check-in: same as yesterday")
async def checkin_same(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    try:
        result = await request.app[state.SERVICES].checkins.same_as_yesterday(user.person)
    except ApiError as exc:
        return await _form(request, error=exc.code, status=status_of(exc))
    return _after_submit(request, result)


def _after_submit(request: web.Request, result: CheckinResult) -> web.StreamResponse:
    # an abnormal answer is no success to cheer about: say what it means instead; a normal edit
    # does not lift the hold of an earlier abnormal answer: say so, and who lifts it
    if result.checkin.abnormal:
        raise web.HTTPSeeOther("/?msg=checkin_saved_abnormal")
    raise web.HTTPSeeOther(f"/?msg={_hold_stays(request, result.status) or 'checkin_saved'}")


def _hold_stays(request: web.Request, status: StatusRow) -> str | None:
    """The catalogue key saying that the hold of an abnormal answer stays and who lifts it, or
    None when the person is not on such a hold."""
    if status.status != "hold" or status.hold_kind != "abnormal_checkin":
        return None
    return "checkin_saved_hold_stays_later" if request.app[state.SERVICES].passes.later_day_clears \
        else "checkin_saved_hold_stays"


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card: today's check-in state (students and staff)."""
    user = await auth.current_user(request)
    if user is None or user.role not in CHECKIN_ROLES:
        return None
    return "checkin_home.html", {"checkin": await request.app[state.SERVICES].checkins.today(user.id),
                                 "today": checkin_day(request.app[state.CLOCK].now()).isoformat()}


