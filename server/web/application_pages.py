"""Mobile pages of the return application and its home-page card (docs/architecture.md §2.3).

``GET /apply`` (``?amend=ID`` to amend a rejected one), ``POST /apply``,
``POST /applications/{id}/withdraw``. If a confirmation is not given the form is shown again
with the prevention office's phone number instead of submitting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from server.storage.applications import ReturnApplication
from server.web import auth, form_drafts, state
from server.web.application_api import STAGE_OF_STATE
from server.web.application_state import application_service, checkin_service
from server.web.errors import ApiError, NotFound, status_of
from server.web.pages import parse_id, render
from server.web.region_pages import form_region
from server.web.registry import Routes
from server.workflow.applications import CONFIRMATION_KEYS, MODES, ApplicationInput, when_local
from server.workflow.checkins import InvalidAnswers
from shared.campus_time import checkin_day

routes = Routes(tag="application-pages")

APPLICANT_ROLES = ("student", "staff")
LEG_FIELDS = ("mode", "service_no", "from_region_code", "to_region_code", "depart_at", "arrive_at")
FORM_LEGS = 2


def form_input(form: MultiDictProxy[Any]) -> ApplicationInput:
    """The application of a submitted form (leg 2 is used only when its mode is chosen)."""
    legs = []
    for i in range(FORM_LEGS):
        leg = {f: str(form.get(f"leg{i}_{f}", "")).strip() for f in LEG_FIELDS}
        for f in ("from_region_code", "to_region_code"):
            leg[f] = form_region(leg[f])
        if i == 0 or leg["mode"]:
            legs.append(leg)
    return ApplicationInput(
        planned_return_date=str(form.get("planned_return_date", "")),
        departure_region_code=form_region(form.get("departure_region_code")),
        itinerary=legs, reason=str(form.get("reason", "")),
        confirmations={k: form.get(k) == "yes" for k in CONFIRMATION_KEYS},
    )


async def _form(request: web.Request, *, values: dict[str, Any] | None = None, amend: int | None = None,
                errors: dict[str, str] | None = None, error: str | None = None, status: int = 200,
                unticked: list[str] | None = None) -> web.StreamResponse:
    user = await auth.require_user(request)
    wf = request.app[state.CONFIG].workflow
    today = checkin_day(request.app[state.CLOCK].now())
    checked_in = await checkin_service(request.app).today(user.id) is not None
    return await render(request, "application_form.html", {
        "values": values or {}, "amend": amend, "field_errors": errors or {}, "error": error,
        "checked_in": checked_in, "phone": wf.prevention_office_phone, "modes": MODES, "legs": range(FORM_LEGS),
        "confirmations": [(k, getattr(wf.confirmations, k)) for k in CONFIRMATION_KEYS], "unticked": unticked or [],
        "confirmations_version": wf.confirmations.version, "min_date": today.isoformat(),
        "max_date": (today + timedelta(days=wf.application_horizon_days)).isoformat(),
    }, status=status)


def _values(app: ReturnApplication) -> dict[str, Any]:
    values: dict[str, Any] = {"planned_return_date": app.planned_return_date.isoformat(),
                              "departure_region_code": app.departure_region_code, "reason": app.reason}
    for i, leg in enumerate(app.itinerary[:FORM_LEGS]):
        for f in LEG_FIELDS:
            value = getattr(leg, f)
            values[f"leg{i}_{f}"] = value[:16] if f in ("depart_at", "arrive_at") else value
    return values


@routes.page("GET", "/apply", roles=APPLICANT_ROLES, summary="return application form")
async def apply_form(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    kept = form_drafts.take(request, "/apply", user.person.number)
    if kept is not None:
        values = dict(kept)
        response = await _form(request, values=values, amend=parse_id(values.get("amend")))
        form_drafts.drop(request, response)
        return response
    amend = parse_id(request.query.get("amend"))
    if amend is not None:
        app = await application_service(request.app).get_for(user.person, amend)
        return await _form(request, values=_values(app), amend=app.id)
    return await _form(request)


@routes.page("POST", "/apply", roles=APPLICANT_ROLES, summary="submit a return application", keep_form="/apply")
async def apply_post(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    data = form_input(form)
    amend = parse_id(form.get("amend"))
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    service = application_service(request.app)
    try:
        if amend is not None:
            await service.amend(user.person, amend, data)
        else:
            await service.submit(user.person, data)
    except InvalidAnswers as exc:
        return await _form(request, values=values, amend=amend, errors={e.field: e.code for e in exc.errors},
                           error="invalid_field", status=status_of(exc))
    except ApiError as exc:
        if exc.code == "confirmation_required":
            # one message under the title naming the unticked items; the ticks given stay ticked
            unticked = [k for k in CONFIRMATION_KEYS if form.get(k) != "yes"]
            return await _form(request, values=values, amend=amend, unticked=unticked, status=status_of(exc))
        return await _form(request, values=values, amend=amend, error=exc.code, status=status_of(exc))
    raise web.HTTPSeeOther("/?msg=application_submitted")


@routes.page("POST", r"/applications/{id:\d+}/withdraw", roles=APPLICANT_ROLES, summary="withdraw own application")
async def withdraw_post(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    try:
        await application_service(request.app).withdraw(user.person, int(request.match_info["id"]))
    except NotFound:
        raise
    except ApiError as exc:
        raise web.HTTPSeeOther(f"/?msg={exc.code}") from None
    raise web.HTTPSeeOther("/?msg=application_withdrawn")


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card: the latest application with its progress (who decided, when, why)."""
    user = await auth.current_user(request)
    if user is None or user.role not in APPLICANT_ROLES:
        return None
    service = application_service(request.app)
    apps = await service.mine(user.id)
    latest = apps[0] if apps else None
    steps = []
    if latest is not None:
        steps = [{"to_state": t.to_state, "actor_name": t.actor_name, "actor_role": t.actor_role,
                  "at": when_local(t.at_s), "reason": t.reason} for t in await service.transitions(latest.id)]
    checked_in = await checkin_service(request.app).today(user.id) is not None
    return "application_home.html", {"app": latest, "steps": steps, "checked_in": checked_in,
                                     "stage": STAGE_OF_STATE.get(latest.state) if latest else None}
