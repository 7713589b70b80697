"""Random sequences of workflow actions against a small reference model, on a real SQLite file.

Each example is one new student on the same database (people do not share state): check-ins
normal and abnormal, applications, approvals, rejections, amendments, withdrawals, arrivals,
holds, clears, revocations, the expiry and missed check-in jobs, and the clock moving across
days and deadlines, driven through the services (:mod:`server.workflow`, :mod:`server.arrivals`,
:mod:`server.pass_status`). After every step the person's pass status, their newest application's
state, the current pass and the revocation list must agree with the model below, which is
written from the rules in docs/architecture.md, not from the code.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.init import init_data_dir
from server.arrivals import Arrivals
from server.config import load_server_config
from server.datadir import DataDir
from server.errors import DomainError
from server.pass_status import PassService
from server.storage import Database
from server.storage.applications import Applications
from server.storage.people import NewPerson, People, Person
from server.workflow.applications import ApplicationInput, ReturnApplications
from server.workflow.checkins import NORMAL_ANSWERS, CheckinService
from shared.campus_time import checkin_day, day_start, local
from shared.clock import FakeClock, to_unix
from shared.pass_format import PassStatus, decode_pass
from tests.conftest import BACKENDS, use_database
from tests.pg import PgCluster

ACTIVE = ("submitted", "dept_approved", "approved")
NORMAL = {**NORMAL_ANSWERS, "location_kind": "other_province", "region_code": "420102", "remarks": ""}
CONFIRMED = {"no_risk_area": True, "no_case_contact": True, "no_symptoms": True, "not_quarantined": True}


# -- the reference model -------------------------------------------------------------------------

@dataclass
class Model:
    """What the rules say the person's state is."""

    status: str = "none"
    base: str = "none"  # what a hold returns to
    hold_kind: str | None = None
    hold_by: int = 0  # rank of who placed the hold: 0 system, 1 counsellor, 2 school admin
    last_day: str | None = None  # the latest check-in the status has taken into account
    last_abnormal: bool = False
    checkins: dict[str, bool] = field(default_factory=dict)  # day -> latest answers abnormal
    on_record: set[str] = field(default_factory=set)  # days with an abnormal answer, even if edited since
    app_state: str | None = None  # the newest application
    expires_at: datetime | None = None

    def arrived(self) -> bool:
        return self.status == "green" or (self.status == "hold" and self.base == "green")

    def hold(self, kind: str, by: int = 0) -> None:
        if self.status in ("black", "green"):
            self.status, self.base, self.hold_kind, self.hold_by = "hold", self.status, kind, by
        elif self.status == "hold" and kind == "admin":
            self.hold_kind, self.hold_by = "admin", max(self.hold_by, by)

    def may_clear(self, by: int) -> bool:
        """A hold is cleared only by a role at least as high as the one that placed it, and by staff."""
        return self.status == "hold" and by >= max(self.hold_by, 1)

    def released(self, status: str) -> None:
        self.status, self.hold_kind, self.hold_by = status, None, 0

    def took_checkin(self, day: str, abnormal: bool) -> None:
        self.last_day, self.last_abnormal = day, abnormal
        if abnormal:
            if self.status in ("black", "green"):
                self.hold("abnormal_checkin")
            elif self.status == "hold" and self.hold_kind == "missed_checkin":
                self.hold_kind = "abnormal_checkin"
        elif self.status == "hold" and self.hold_kind == "missed_checkin":
            self.released(self.base)
        # a normal answer never lifts an abnormal check-in hold (the default [passes]
        # abnormal_hold_cleared_by = "counsellor"): staff clear it

    def ended(self, revoked: bool) -> None:
        if self.status == "none" or (self.arrived() and not revoked):
            return
        self.released("none")
        self.base = "none"

    def eligible(self, today: str) -> bool:
        return self.status in ("black", "green") and self.last_day == today and not self.last_abnormal


ACTIONS = st.sampled_from([
    "checkin", "checkin", "checkin_abnormal", "submit", "submit_later", "dept_approve", "dept_approve",
    "dept_reject", "school_approve", "school_approve", "school_reject", "amend", "withdraw", "arrive", "arrive",
    "hold", "hold_c", "clear", "clear_c", "revoke_application", "revoke_passes", "expire", "sweep",
    "hours_1", "hours_5", "next_day", "next_day", "two_days", "to_black", "to_black", "to_green",
])
"""One action per step; ``to_black`` and ``to_green`` are runs of them (the way to an approved
return, and on to arrival) so that short sequences reach every status often."""

MACROS = {
    "to_black": ["checkin", "submit", "dept_approve", "school_approve"],
    "to_green": ["checkin", "submit", "dept_approve", "school_approve", "arrive"],
}


# -- the system under test -----------------------------------------------------------------------

@dataclass
class System:
    clock: FakeClock
    db: Database
    passes: PassService
    checkins: CheckinService
    applications: ReturnApplications
    arrivals: Arrivals
    counsellor: Person
    admin: Person
    numbers: Iterator[int]


async def open_system(datadir: DataDir, clock: FakeClock) -> System:
    config = load_server_config(datadir.config_path)
    db = await datadir.open_database()
    passes = PassService(db, datadir, config.passes, clock)
    async with db.transaction() as conn:
        await People.upsert_department(conn, "CS", "Computer Science")
        for number, role in (("C1", "counsellor"), ("A1", "school_admin")):
            await People.upsert(conn, NewPerson(number, number, role, "CS" if role == "counsellor" else None,  # type: ignore[arg-type]
                                                None, None, "x", secrets.token_bytes(8)), to_unix(clock.now()))
        await People.set_counsellor_departments(conn, "C1", ("CS",))
    people = People(db)
    counsellor, admin = await people.by_number("C1"), await people.by_number("A1")
    assert counsellor is not None and admin is not None
    return System(clock, db, passes, CheckinService(db, clock, config, passes),
                  ReturnApplications(db, clock, config, passes), Arrivals(passes), counsellor, admin,
                  itertools.count(1))


async def new_student(system: System) -> Person:
    number = f"S{next(system.numbers):05d}"
    async with system.db.transaction() as conn:
        await People.upsert(conn, NewPerson(number, number, "student", "CS", None, "13800000000", "x",
                                            secrets.token_bytes(8)), to_unix(system.clock.now()))
    person = await People(system.db).by_number(number)
    assert person is not None
    return person


def application(planned: date) -> ApplicationInput:
    leg = {"mode": "rail", "service_no": "G1234", "from_region_code": "420102", "to_region_code": "110108",
           "depart_at": f"{planned.isoformat()}T08:00", "arrive_at": f"{planned.isoformat()}T12:30"}
    return ApplicationInput(planned.isoformat(), "420102", [leg], "返校", CONFIRMED)


async def latest_application_id(system: System, person: Person) -> int | None:
    apps = await Applications(system.db).of_person(person.id, limit=1)
    return apps[0].id if apps else None


async def act(system: System, person: Person, model: Model, action: str) -> None:
    """Do ``action`` through the services and to the model. A refusal by the services must be a
    refusal by the model (and the reverse)."""
    clock, now = system.clock, system.clock.now()
    today = checkin_day(now).isoformat()
    app_id = await latest_application_id(system, person)
    allowed = True
    expect = None
    if action.startswith("hours_") or action in ("next_day", "two_days"):
        clock.advance({"hours_1": 3600, "hours_5": 5 * 3600, "next_day": 86400, "two_days": 2 * 86400}[action])
        return
    if action in ("checkin", "checkin_abnormal"):
        abnormal = action == "checkin_abnormal"
        await system.checkins.submit(person, {**NORMAL, "temperature_c": 38.4 if abnormal else 36.5})
        model.checkins[today] = abnormal
        if abnormal:
            model.on_record.add(today)
        if model.status != "none":
            model.took_checkin(today, abnormal)
        return
    if action == "sweep":
        await system.passes.sweep_missed_checkins(now)
        if local(now).hour >= 12 and model.status in ("black", "green") and (
                model.last_day is None or model.last_day < today):
            model.hold("missed_checkin")
        return
    if action == "expire":
        await system.applications.expire_due(now)
        if model.app_state in ACTIVE and model.expires_at is not None and now >= model.expires_at:
            model.app_state = "expired"
            model.ended(revoked=False)
        return

    async def attempt() -> None:
        a = system.applications
        if action in ("submit", "submit_later", "amend"):
            planned = checkin_day(now) + timedelta(days=0 if action == "submit" else 1)
            if action == "amend":
                assert app_id is not None
                await a.amend(person, app_id, application(planned))
            else:
                await a.submit(person, application(planned))
        elif action in ("dept_approve", "dept_reject", "school_approve", "school_reject"):
            assert app_id is not None
            reviewer = system.counsellor if action.startswith("dept") else system.admin
            if action.endswith("approve"):
                await a.approve(reviewer, app_id)
            else:
                await a.reject(reviewer, app_id, "itinerary unclear")
        elif action == "withdraw":
            assert app_id is not None
            await a.withdraw(person, app_id)
        elif action == "revoke_application":
            assert app_id is not None
            await a.revoke(system.admin, app_id, "policy change")
        elif action == "arrive":
            await system.arrivals.confirm_arrival(person.id, system.counsellor, now, method="number")
        elif action in ("hold", "hold_c"):
            staff = system.admin if action == "hold" else system.counsellor
            await system.passes.hold(person.id, "staff hold", staff.id, now, actor_role=staff.role)
        elif action in ("clear", "clear_c"):
            staff = system.admin if action == "clear" else system.counsellor
            await system.passes.clear_hold(person.id, "cleared", staff.id, now, actor_role=staff.role)
        elif action == "revoke_passes":
            await system.passes.revoke_passes(person.id, "lost phone", system.admin.id, now)

    # the model's verdict and effect
    state = model.app_state
    needs_app = action not in ("submit", "submit_later", "arrive", "hold", "hold_c", "clear", "clear_c",
                               "revoke_passes")
    if needs_app and state is None:
        return  # nothing to act on yet
    if action in ("submit", "submit_later", "amend"):
        allowed = today in model.checkins and state not in ACTIVE and (
            action != "amend" or state in ("dept_rejected", "school_rejected"))
        if allowed:
            planned = checkin_day(now) + timedelta(days=0 if action == "submit" else 1)
            expect = ("submitted", day_start(planned + timedelta(days=2 + 1)))
    elif action == "dept_approve":
        allowed, expect = state == "submitted", "dept_approved"
    elif action == "dept_reject":
        allowed, expect = state == "submitted", "dept_rejected"
    elif action == "school_approve":
        allowed, expect = state == "dept_approved", "approved"
    elif action == "school_reject":
        allowed, expect = state == "dept_approved", "school_rejected"
    elif action == "withdraw":
        allowed, expect = state in ACTIVE, "withdrawn"
    elif action == "revoke_application":
        allowed, expect = state in (*ACTIVE, "arrived"), "revoked"
    elif action == "arrive":
        allowed = state == "approved" and (model.status == "black" or (model.status == "hold" and model.base == "black"))
    elif action in ("hold", "hold_c"):
        allowed = model.status in ("black", "green", "hold")
    elif action in ("clear", "clear_c"):
        allowed = model.may_clear(2 if action == "clear" else 1)

    try:
        await attempt()
        done = True
    except DomainError:
        done = False
    assert done == allowed, f"{action}: service {'did' if done else 'refused'}, model {'allows' if allowed else 'refuses'}"
    if not done:
        return
    if action in ("submit", "submit_later", "amend"):
        assert isinstance(expect, tuple)
        model.app_state, model.expires_at = expect
    elif action == "school_approve":
        model.app_state = "approved"
        if today in model.checkins and (model.last_day is None or model.last_day <= today):
            model.last_day, model.last_abnormal = today, model.checkins[today]
        if model.arrived():
            pass
        elif model.status == "hold":
            model.base = "black"
        else:
            model.released("black")
            model.base = "none"
            if today in model.on_record:
                model.hold("abnormal_checkin")
    elif action in ("withdraw", "revoke_application"):
        model.app_state = str(expect)
        model.ended(revoked=action == "revoke_application")
    elif action == "arrive":
        model.app_state = "arrived"
        if model.status == "black":
            model.status, model.base = "green", "none"
        else:
            model.base = "green"
    elif action in ("hold", "revoke_passes"):
        model.hold("admin", 2)
    elif action == "hold_c":
        model.hold("admin", 1)
    elif action in ("clear", "clear_c"):
        model.released(model.base)
    elif isinstance(expect, str):
        model.app_state = expect


async def check(system: System, person: Person, model: Model, step: str) -> None:
    """The stored status, application, current pass and revocation list agree with the model."""
    now = system.clock.now()
    now_s = to_unix(now)
    row = await system.passes.store.get(person.id)
    assert (row.status, row.hold_kind) == (model.status, model.hold_kind), step
    placed = {None: 0, "system": 0, "counsellor": 1, "school_admin": 2}[row.hold_by_role]
    assert placed == model.hold_by and (row.hold_by_role is None) == (model.status != "hold"), step
    if row.status == "hold":
        assert row.base == model.base, step
    apps = await Applications(system.db).of_person(person.id, limit=1)
    assert (apps[0].state if apps else None) == model.app_state, step
    live = await system.db.fetch_all(
        "SELECT p.serial, p.status FROM passes p WHERE p.person_id = ? AND p.valid_until > ?"
        " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = p.serial)"
        " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.subject = p.subject AND p.issued_at < r.before_at)",
        (person.id, now_s))
    live_colours = {str(r[1]) for r in live}
    if model.status in ("none", "hold"):
        assert live == [], f"{step}: {model.status} but {len(live)} passes still valid"
    if model.status == "black":
        assert "green" not in live_colours, step
    if model.eligible(checkin_day(now).isoformat()):
        assert row.current_text and row.current_until_s and row.current_until_s > now_s, step
        fields = decode_pass(row.current_text).fields
        assert fields.status is (PassStatus.GREEN if model.status == "green" else PassStatus.BLACK), step
        assert fields.serial in {bytes(r[0]) for r in live}, f"{step}: the current pass is revoked"


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module", params=BACKENDS)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           loop: asyncio.AbstractEventLoop) -> Iterator[System]:
    """The workflow on each backend: the data directory's SQLite file, then a PostgreSQL database."""
    clock = FakeClock(datetime.fromisoformat("2026-03-02T00:00:00+00:00"))
    datadir = init_data_dir(tmp_path_factory.mktemp("workflow-properties") / "data", clock, admin=None).datadir
    cluster: PgCluster | None = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None
    url = cluster.create_database() if cluster is not None else ""
    use_database(datadir, url)
    sys_ = loop.run_until_complete(open_system(datadir, clock))
    try:
        yield sys_
    finally:
        loop.run_until_complete(sys_.db.close())
        if cluster is not None:
            cluster.drop_database(url)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(ACTIONS, min_size=3, max_size=20), start_hour=st.integers(0, 23))
def test_random_workflow_sequences_agree_with_the_model(system: System, loop: asyncio.AbstractEventLoop,
                                                         actions: list[str], start_hour: int) -> None:
    async def run() -> None:
        # each example: a new student, the clock back near the start (the issuer key stays valid)
        system.clock.set_wall(datetime.fromisoformat("2026-03-02T00:00:00+00:00") + timedelta(hours=start_hour))
        person = await new_student(system)
        model = Model()
        for i, step in enumerate(actions):
            for action in MACROS.get(step, [step]):
                await act(system, person, model, action)
                await check(system, person, model, f"step {i} {action} in {actions[:i + 1]}")

    loop.run_until_complete(run())
