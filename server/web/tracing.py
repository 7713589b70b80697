"""Contact tracing by co-presence (issue 19; docs/tracing.md), as JSON and as the school admin's
page.

``POST /api/v1/tracing/queries`` with ``{"number", "from", "to", "min_overlap_min", "reason"}``
answers the person's stays and the contacts (number, name, department, overlap minutes),
ranked by total overlap and grouped by department; ``?format=csv`` answers the same as a CSV
file (UTF-8 with BOM). ``GET /tracing`` shows the query form; ``POST /tracing`` runs the same
query (:func:`run_query`) and shows the stays and contacts, or with ``export=csv`` answers the
CSV. School admins only; every query is audited with its reason (:mod:`server.presence.tracing`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from server.dashboards.exports import csv_bytes
from server.presence.tracing import TRACING_ROLES, CoPresence, TracingResult
from server.storage.presence import PresenceStore
from server.web import auth, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.headers import attachment
from server.web.registry import Routes
from server.web.rendering import form_error, render
from shared.campus_time import CAMPUS_TZ, day_start, local

routes = Routes(tag="tracing")

CSV_HEADER = ("院系 department", "学号/工号 number", "姓名 name", "合计重叠（分钟） overlap_min", "次数 stays",
              "楼宇 buildings")


def _tracing_body() -> type:
    # "from" is a Python keyword, so this body cannot be written as a class statement; the
    # dataclass is built by hand with the exact JSON field names the API promises.
    def init(self: Any, **values: Any) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, values.get(f.name, f.default))

    namespace: dict[str, Any] = {
        "__annotations__": {"number": "str", "reason": "str", "from": "str | None", "to": "str | None",
                            "min_overlap_min": "int | None"},
        "from": None, "to": None, "min_overlap_min": None, "__init__": init, "__module__": __name__,
        "__doc__": "A co-presence query: the person's number; ``from``/``to`` as ``YYYY-MM-DD`` (local days,"
                   " inclusive) or ISO 8601 times (default the last 14 days to now); the least overlap in"
                   " minutes (default from the server's configuration); why the query is needed (4–500"
                   " characters, kept in the audit log).",
    }
    cls = type("TracingBody", (), namespace)
    return dataclasses.dataclass(init=False, frozen=True, repr=False, eq=False)(cls)


TracingBody = _tracing_body()


@dataclass(frozen=True)
class StayContactOut:
    """Someone in the building during one stay: overlap with that stay in minutes."""

    number: str
    name: str
    department: str | None
    overlap_min: float


@dataclass(frozen=True)
class StayOut:
    """One stay of the person queried (times ISO 8601 UTC). ``began``: entry or inferred (an exit
    with no entry); ``ended``: exit, default_stay (entry-only door), cut_off (never badged out)
    or open (still inside). ``unidentified``: overlapping passes of no person (visitors)."""

    building: str
    building_name: str
    entered_at: str
    left_at: str
    minutes: float
    began: str
    ended: str
    contacts: list[StayContactOut]
    unidentified: int


@dataclass(frozen=True)
class ContactOut:
    """A contact over the whole period: total overlap in minutes, over how many stays."""

    number: str
    name: str
    department: str | None
    overlap_min: float
    stays: int


@dataclass(frozen=True)
class DepartmentOut:
    """Contacts of one department: how many, and their overlap in minutes."""

    department: str | None
    name: str
    contacts: int
    overlap_min: float


@dataclass(frozen=True)
class TracingOut:
    """The stays of the person queried and the contacts found, most overlap first.

    ``period_from``/``period_to`` are the period searched (ISO 8601 UTC);
    ``clamped_to_retention`` says the period was cut at the oldest scan kept."""

    number: str
    name: str
    department: str | None
    period_from: str
    period_to: str
    min_overlap_min: int
    clamped_to_retention: bool
    stays: list[StayOut]
    contacts: list[ContactOut]
    departments: list[DepartmentOut]


def parse_instant(text: str | None, name: str, *, end: bool) -> int | None:
    """Unix ms of a ``from``/``to`` value: ``YYYY-MM-DD`` is a local day (its start, or with
    ``end`` its last millisecond); an ISO 8601 time without offset is Asia/Shanghai.

    Raises:
        InvalidField: neither form.
    """
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                return int(day_start(day + timedelta(days=1)).timestamp() * 1000) - 1
            return int(day_start(day).timestamp() * 1000)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidField(f"{name} {text[:40]!r} is not YYYY-MM-DD or an ISO 8601 time") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=CAMPUS_TZ)
    return int(instant.timestamp() * 1000)


def iso(at_ms: int | None) -> str | None:
    """ISO 8601 UTC of a Unix ms time (None for none)."""
    return None if at_ms is None else datetime.fromtimestamp(at_ms / 1000, UTC).isoformat()


def mask_number(number: str) -> str:
    """``2021001234`` → ``2021****34``: the first 4 and last 2 characters kept (shorter numbers
    keep only the last 2)."""
    if len(number) >= 8:
        return number[:4] + "*" * (len(number) - 6) + number[-2:]
    return "*" * max(0, len(number) - 2) + number[-2:]


def service(request: web.Request) -> CoPresence:
    """The co-presence service of this app."""
    return CoPresence(request.app[state.SERVICES].db, request.app[state.CLOCK], request.app[state.CONFIG].presence)


async def run_query(request: web.Request, number: str, from_text: str | None, to_text: str | None,
                    min_overlap_min: int | None, reason: str) -> TracingResult:
    """Parse the period and run (and audit) the query for the logged-in user.

    Raises:
        InvalidField, Forbidden, NotFound: from :meth:`server.presence.tracing.CoPresence.query`
            (the error middleware maps them by category).
    """
    user = await auth.require_user(request)
    from_ms = parse_instant(from_text, "from", end=False)
    to_ms = parse_instant(to_text, "to", end=True)
    return await service(request).query(user.person, number.strip(), from_ms=from_ms, to_ms=to_ms,
                                        min_overlap_min=min_overlap_min, reason=reason,
                                        address=auth.client_address(request))


def _minutes(ms: int) -> float:
    return round(ms / 60_000, 1)


async def result_out(request: web.Request, result: TracingResult) -> TracingOut:
    """The API shape of a result."""
    store = PresenceStore(request.app[state.SERVICES].db)
    names = {b.code: b.name for b in await store.buildings()}
    departments = await store.department_names()
    groups: dict[str | None, list[int]] = {}
    for c in result.contacts:
        g = groups.setdefault(c.person.department, [0, 0])
        g[0] += 1
        g[1] += c.overlap_ms
    s = result.subject
    return TracingOut(
        s.number, s.name, s.department, iso(result.from_ms) or "", iso(result.to_ms) or "",
        result.min_overlap_ms // 60_000, result.clamped,
        [StayOut(t.stay.building, names.get(t.stay.building, t.stay.building), iso(t.stay.start_ms) or "",
                 iso(t.stay.end_ms) or "", round(t.stay.minutes, 1), t.stay.began, t.stay.ended,
                 [StayContactOut(c.person.number, c.person.name, c.person.department, _minutes(c.overlap_ms))
                  for c in t.contacts], t.unidentified) for t in result.stays],
        [ContactOut(c.person.number, c.person.name, c.person.department, _minutes(c.overlap_ms), c.stays)
         for c in result.contacts],
        [DepartmentOut(d, departments.get(d or "", d or ""), n, _minutes(ms))
         for d, (n, ms) in sorted(groups.items(), key=lambda item: (-item[1][1], item[0] or ""))],
    )


def result_csv(result: TracingResult, *, mask: bool, building_names: dict[str, str]) -> bytes:
    """The contacts as CSV (UTF-8 with BOM): grouped by department, most overlap first."""
    buildings: dict[str, set[str]] = {}
    for t in result.stays:
        for c in t.contacts:
            buildings.setdefault(c.person.number, set()).add(building_names.get(t.stay.building, t.stay.building))
    rows = sorted(result.contacts, key=lambda c: (c.person.department or "", -c.overlap_ms, c.person.number))
    return csv_bytes(CSV_HEADER, [(
        c.person.department, mask_number(c.person.number) if mask else c.person.number, c.person.name,
        _minutes(c.overlap_ms), c.stays, " / ".join(sorted(buildings.get(c.person.number, ())))) for c in rows])


def csv_response(body: bytes, number: str) -> web.Response:
    """A CSV download that is never cached."""
    stamp = local(datetime.now(UTC)).strftime("%Y%m%d")
    return web.Response(body=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": attachment(f"contacts-{number}-{stamp}.csv"),
                                 "Cache-Control": "no-store"})


@routes.api("POST", "/api/v1/tracing/queries", roles=TRACING_ROLES, body=TracingBody, response=TracingOut,
            query={"format": "json (default) or csv"},
            summary="Co-presence query: a person's stays and who shared each building with them (audited)")
async def tracing_query(request: web.Request, body: Any) -> web.Response:
    """School admins only. 422 ``invalid_field`` for a missing reason, a bad period or threshold;
    404 ``unknown_person`` for an unknown number (the attempt is still audited). Every query
    writes one ``tracing_query`` audit entry with the reason before answering."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidField(f"format {fmt[:20]!r}; expected json or csv")
    result = await run_query(request, body.number, getattr(body, "from"), body.to, body.min_overlap_min, body.reason)
    if fmt == "csv":
        names = {b.code: b.name for b in await PresenceStore(request.app[state.SERVICES].db).buildings()}
        mask = request.app[state.CONFIG].presence.mask_numbers_in_export
        return csv_response(result_csv(result, mask=mask, building_names=names), result.subject.number)
    return web.json_response(asdict(await result_out(request, result)))


FORM_FIELDS = ("number", "from", "to", "min_overlap_min", "reason")


def local_time(at: str | int | None) -> str:
    """``YYYY-MM-DD HH:MM`` Asia/Shanghai of an ISO 8601 time or Unix ms ("" for none)."""
    if at is None or at == "":
        return ""
    instant = datetime.fromisoformat(at) if isinstance(at, str) else datetime.fromtimestamp(at / 1000, UTC)
    return local(instant).strftime("%Y-%m-%d %H:%M")


@routes.page("GET", "/tracing", roles=TRACING_ROLES, summary="contact tracing form")
async def tracing_form(request: web.Request) -> web.StreamResponse:
    defaults = {"min_overlap_min": str(request.app[state.CONFIG].presence.min_overlap_min)}
    return await render(request, "tracing.html", {"form": defaults, "result": None})


@routes.page("POST", "/tracing", roles=TRACING_ROLES, summary="run a contact tracing query")
async def tracing_run(request: web.Request) -> web.StreamResponse:
    form = await auth.read_form(request)
    values = {k: str(form.get(k, "")).strip() for k in FORM_FIELDS}
    try:
        threshold = None
        if values["min_overlap_min"]:
            if not (values["min_overlap_min"].isascii() and values["min_overlap_min"].isdigit()
                    and len(values["min_overlap_min"]) <= 6):
                raise InvalidField("min_overlap_min is not a whole number of minutes")
            threshold = int(values["min_overlap_min"])
        result = await run_query(request, values["number"], values["from"] or None, values["to"] or None, threshold,
                                 values["reason"])
    except ApiError as exc:
        return await render(request, "tracing.html", {"form": values, "result": None, "error": form_error(exc),
                                                      "error_message": exc.message}, status=status_of(exc))
    if form.get("export") == "csv":
        names = {b.code: b.name for b in await PresenceStore(request.app[state.SERVICES].db).buildings()}
        mask = request.app[state.CONFIG].presence.mask_numbers_in_export
        return csv_response(result_csv(result, mask=mask, building_names=names), result.subject.number)
    out = await result_out(request, result)
    return await render(request, "tracing.html", {"form": values, "result": out, "fmt": local_time})
