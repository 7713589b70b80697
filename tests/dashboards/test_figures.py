"""Campus figures against a small dataset computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from server.storage.pass_status import PassStatusStore, Status, StatusRow
from server.storage.scans import ScanLog
from server.web import state
from shared.clock import FakeClock, to_unix
from tests.dashboards.conftest import Login, add_application, add_people, checkin, person

ROSTER = [("S1", "CS", "CS-1", "13900000001"), ("S2", "CS", "CS-1", "13900000002"),
          ("S3", "CS", "CS-2", "13900000003"), ("E1", "EE", "EE-1", "13900000011"),
          ("E2", "EE", "EE-1", "13900000012")]


def utc(text: str) -> int:
    """Unix seconds of a local (Asia/Shanghai, +08:00) ``YYYY-MM-DDTHH:MM``."""
    return to_unix(datetime.fromisoformat(text + "+08:00").astimezone(UTC))


def scan(n: int, building: str, local_at: str, verdict: str) -> tuple:  # type: ignore[type-arg]
    return (f"scan-{n}", "node-1", n, building, "entry", utc(local_at) * 1000, 1, None, None, "0" * 64, verdict,
            "accepted" if verdict == "accept" else "status_not_green", "0" * 64, utc(local_at))


async def build(app: web.Application, clock: FakeClock) -> None:
    await add_people(app, ROSTER)
    # 2026-03-02: S1, S2 (abnormal), E1
    for number, abnormal in (("S1", False), ("S2", True), ("E1", False)):
        await checkin(app, number, abnormal=abnormal)
    clock.advance(86400)  # 2026-03-03 08:00
    for number, abnormal in (("S1", False), ("E1", False), ("E2", True), ("S3", False)):
        await checkin(app, number, abnormal=abnormal)
    await add_application(app, "S1", "submitted", "2026-03-05")
    await add_application(app, "S2", "dept_approved", "2026-03-06")
    await add_application(app, "E1", "approved", "2026-03-04")
    await add_application(app, "E2", "arrived", "2026-03-02", arrived_at_s=utc("2026-03-02T10:00"))
    counsellor = await person(app, "C1")
    db = app[state.SERVICES].db
    async with db.transaction() as conn:
        for number, at in (("E2", "2026-03-02T10:00"), ("S3", "2026-03-03T09:00")):
            await PassStatusStore.add_arrival(conn, person_id=(await person(app, number)).id,
                                              counsellor_id=counsellor.id, at_s=utc(at), method="text", serial=None)
        statuses: list[tuple[str, Status]] = [("E2", "green"), ("E1", "black"), ("S3", "hold")]
        for number, status in statuses:
            pid = (await person(app, number)).id
            await PassStatusStore.put(conn, StatusRow(pid, status=status, base="green" if status == "hold" else status,
                                                      updated_at_s=to_unix(clock.now())))
        await ScanLog.insert(conn, [
            scan(1, "B1", "2026-03-03T08:10", "accept"), scan(2, "B1", "2026-03-03T08:50", "accept"),
            scan(3, "B1", "2026-03-03T13:05", "deny"), scan(4, "B2", "2026-03-02T23:30", "accept"),
            scan(5, "B2", "2026-03-03T00:10", "accept"),
        ])


async def test_campus_figures_match_hand_count(login: Login, app: web.Application, clock: FakeClock,
                                               server_tz: str) -> None:
    a = await login("A1", role="school_admin", department="ADM")
    await login("C1", role="counsellor", department="CS", departments=("CS",))
    await build(app, clock)
    r = await a.get("/api/v1/stats/campus")
    assert r.status == 200, await r.text()
    f = await r.json()
    assert f["today"] == "2026-03-03"
    assert f["checkins_today"] == [
        {"day": "2026-03-03", "department": "CS", "expected": 3, "done": 2, "abnormal": 0},
        {"day": "2026-03-03", "department": "EE", "expected": 2, "done": 2, "abnormal": 1},
    ]
    assert len(f["days"]) == 14 and f["days"][0]["day"] == "2026-02-18"
    assert f["days"][-2:] == [
        {"day": "2026-03-02", "expected": 5, "done": 3, "abnormal": 1, "rate": 0.6},
        {"day": "2026-03-03", "expected": 5, "done": 4, "abnormal": 1, "rate": 0.8},
    ]
    assert all(d["done"] == 0 and d["expected"] == 5 for d in f["days"][:-2])
    assert f["applications"] == {"submitted": 1, "dept_approved": 1, "approved": 1, "arrived": 1,
                                 "dept_rejected": 0, "school_rejected": 0, "withdrawn": 0, "expired": 0, "revoked": 0}
    assert f["arrivals"][-2:] == [{"day": "2026-03-02", "count": 1}, {"day": "2026-03-03", "count": 1}]
    assert sum(d["count"] for d in f["arrivals"]) == 2
    assert {k: f["passes"][k] for k in ("black", "green", "hold")} == {"black": 1, "green": 1, "hold": 1}
    scans = {s["building"]: s for s in f["scans"]}
    assert set(scans) == {"B1", "B2"}
    b1 = scans["B1"]["per_hour"]
    assert (b1[8], b1[13], sum(b1), scans["B1"]["accepted"]) == (2, 1, 3, 2)
    assert (scans["B2"]["per_hour"][0], sum(scans["B2"]["per_hour"])) == (1, 1)

    # the per-department statistics agree, and a counsellor's are their department's alone
    r = await a.get("/api/v1/stats/checkins?from=2026-03-02&to=2026-03-03")
    assert (await r.json())["rows"] == [
        {"day": "2026-03-02", "department": "CS", "expected": 3, "done": 2, "abnormal": 1},
        {"day": "2026-03-02", "department": "EE", "expected": 2, "done": 1, "abnormal": 0},
        {"day": "2026-03-03", "department": "CS", "expected": 3, "done": 2, "abnormal": 0},
        {"day": "2026-03-03", "department": "EE", "expected": 2, "done": 2, "abnormal": 1},
    ]

    # the school page shows the same figures as tables and inline SVG charts, nothing external
    r = await a.get("/dashboard/school")
    html = await r.text()
    assert r.status == 200
    assert html.count("<svg") == 7 and "<script" not in html and "https://" not in html
    assert "80.0%" in html and "60.0%" in html



async def test_campus_figures_are_at_most_a_minute_old(login: Login, app: web.Application, clock: FakeClock) -> None:
    a = await login("A1", role="school_admin", department="ADM")
    await add_people(app, ROSTER)

    async def done_today() -> tuple[int, str]:
        f = await (await a.get("/api/v1/stats/campus")).json()
        return f["days"][-1]["done"], f["computed_at"]

    assert await done_today() == (0, "2026-03-02T00:00:00+00:00")
    await checkin(app, "S1")
    clock.advance(59)
    assert await done_today() == (0, "2026-03-02T00:00:00+00:00")  # one computation serves everyone
    clock.advance(1)
    assert await done_today() == (1, "2026-03-02T00:01:00+00:00")
