"""Mobile pages of the daily health check-in and its home-page card.

``GET /checkin`` shows the form (pre-filled with today's answers, else yesterday's) and the
one-tap "same as yesterday" button; ``POST /checkin`` and ``POST /checkin/same`` submit and
redirect home. Field errors re-render the form with each field's message.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from server.storage.checkins import Checkin, ReplacedAnswers
from server.storage.pass_status import StatusRow
from server.web import auth, form_drafts, state
from server.web.application_state import checkin_service
from server.web.errors import ApiError, status_of
from server.web.pages import render
from server.web.region_pages import form_region
from server.web.registry import Routes
from server.workflow.checkins import CASE_STATUSES, LOCATION_KINDS, SYMPTOMS, InvalidAnswers
from shared.campus_time import checkin_day

routes = Routes(tag="checkin-pages")

CHECKIN_ROLES = ("student", "staff")


def _bool(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def form_answers(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The check-in answers of a submitted form, as the API's JSON fields (a temperature that
    is not a number is passed on as text so validation names it)."""
    temp_text = str(form.get("temperature_c", "")).strip()
    temperature: Any = None
    if temp_text:
        try:
            temperature = float(temp_text)
        except ValueError:
            temperature = temp_text
    return {
        "location_kind": str(form.get("location_kind", "")) or None,
        "region_code": form_region(form.get("region_code")) or None,
        "temperature_c": temperature,
        "symptoms": [str(s) for s in form.getall("symptoms", [])],
        "case_contact_14d": _bool(str(form.get("case_contact_14d", ""))),
        "risk_area_14d": _bool(str(form.get("risk_area_14d", ""))),
        "case_status": str(form.get("case_status", "")) or None,
        "remarks": str(form.get("remarks", "")),
        "attest": form.get("attest") == "yes",
    }


def _values(checkin: Checkin | None) -> dict[str, Any]:
    if checkin is None:
        return {"symptoms": [], "case_status": "none"}
    values = asdict(checkin.answers)
    values["symptoms"] = list(checkin.answers.symptoms)
    return values


async def _form(request: web.Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                error: str | None = None, status: int = 200) -> web.StreamResponse:
    user = await auth.require_user(request)
    service = checkin_service(request.app)
    today = checkin_day(request.app[state.CLOCK].now())
    current = await service.today(user.id)
    previous = await service.history(user.id, today - timedelta(days=1), today - timedelta(days=1))
    yesterday = previous[0] if previous else None
    history = await service.history(user.id, today - timedelta(days=13), today)
    replaced: dict[str, list[ReplacedAnswers]] = {}
    if any(c.revisions > 1 for c in history):
        for r in await service.replaced(user.id, today - timedelta(days=13), today):
            replaced.setdefault(r.day.isoformat(), []).append(r)
    pass_row = await request.app[state.SERVICES].passes.store.get(user.id)
    return await render(request, "checkin.html", {
        "today": today.isoformat(), "current": current, "yesterday": yesterday, "history": history,
        "replaced": replaced, "hold_stays": _hold_stays(request, pass_row),
        "values": values if values is not None else _values(current or yesterday), "field_errors": errors or {},
        "error": error, "location_kinds": LOCATION_KINDS, "symptom_codes": SYMPTOMS, "case_statuses": CASE_STATUSES,
    }, status=status)


@routes.page("GET", "/checkin", roles=CHECKIN_ROLES, summary="check-in form")
async def checkin_form(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    kept = form_drafts.take(request, "/checkin", user.person.number)
    if kept is None:
        return await _form(request)
    values = form_answers(MultiDictProxy(MultiDict(kept)))
    values["keep_attest"] = values["attest"]  # ticked for these very answers; a new day's form starts unticked
    response = await _form(request, values=values)
    form_drafts.drop(request, response)
    return response


@routes.page("POST", "/checkin", roles=CHECKIN_ROLES, summary="submit the check-in form", keep_form="/checkin")
async def checkin_post(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    answers = form_answers(await request.post())
    try:
        result = await checkin_service(request.app).submit(user.person, answers)
    except InvalidAnswers as exc:
        return await _form(request, values=answers, errors={e.field: e.code for e in exc.errors},
                           error="invalid_field", status=status_of(exc))
    # an abnormal answer is no success to cheer about: say what it means instead; a normal edit
    # does not lift the hold of an earlier abnormal answer: say so, and who lifts it
    if result.checkin.abnormal:
        raise web.HTTPSeeOther("/?msg=checkin_saved_abnormal")
    raise web.HTTPSeeOther(f"/?msg={_hold_stays(request, result.status) or 'checkin_saved'}")


@routes.page("POST", "/checkin/same", roles=CHECKIN_ROLES, summary="one-tap check-in: same as yesterday")
async def checkin_same(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    try:
        result = await checkin_service(request.app).same_as_yesterday(user.person)
    except ApiError as exc:
        return await _form(request, error=exc.code, status=status_of(exc))
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
    return "checkin_home.html", {"checkin": await checkin_service(request.app).today(user.id),
                                 "today": checkin_day(request.app[state.CLOCK].now()).isoformat()}
