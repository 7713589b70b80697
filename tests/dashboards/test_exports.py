"""CSV exports: UTF-8 with BOM, the right columns, no ID numbers, masked phones unless the role
needs them, formula cells defused, every export in the audit log."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from server.storage.audit import AuditLog
from server.web import state
from server.web.exports import APPLICATIONS_HEADER, ARRIVALS_HEADER, MISSING_HEADER
from tests.dashboards.conftest import Login, add_application, add_people, checkin, person

ROSTER = [("S1", "CS", "CS-1", "13900000001"), ("S2", "CS", "CS-1", "13900000002"),
          ("E1", "EE", "EE-1", "13900000011")]


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:10]
    text = body.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_missing_export_counsellor_and_admin(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    a = await login("A1", role="school_admin", department="ADM")
    await add_people(app, ROSTER)
    await add_people(app, [("S3", "CS", "=HYPERLINK(1)", None)])
    await checkin(app, "S2")
    r = await c.get("/api/v1/exports/missing.csv")
    assert r.status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = read_csv(await r.read())
    assert tuple(rows[0]) == MISSING_HEADER
    assert rows[1:] == [["S3", "Name S3", "CS", "'=HYPERLINK(1)", "", ""],  # by class, then number
                        ["S1", "Name S1", "CS", "CS-1", "13900000001", ""]]
    assert not any("身份证" in h or "id_number" in h.lower() for h in rows[0])

    r = await a.get("/api/v1/exports/missing.csv")
    rows = read_csv(await r.read())
    assert [(row[0], row[4]) for row in rows[1:]] == [("S3", ""), ("S1", "139****0001"), ("E1", "139****0011")]

    entries = await AuditLog(app[state.SERVICES].db).recent(action="export")
    assert [(e.actor_number, e.detail["kind"], e.detail["rows"]) for e in entries] == [
        ("A1", "missing", 3), ("C1", "missing", 2)]


async def test_applications_and_arrivals_exports(login: Login, app: web.Application) -> None:
    c = await login("C1", role="counsellor", department="CS", departments=("CS",))
    await add_people(app, ROSTER)
    await add_application(app, "S1", "submitted", "2026-03-05")
    await add_application(app, "E1", "submitted", "2026-03-05")
    await add_application(app, "S2", "approved", "2026-04-20")
    r = await c.get("/api/v1/exports/applications.csv?from=2026-03-01&to=2026-03-31")
    rows = read_csv(await r.read())
    assert tuple(rows[0]) == APPLICATIONS_HEADER
    assert [(row[1], row[6], row[7], row[8], row[9], row[10]) for row in rows[1:]] == [
        ("S1", "submitted", "2026-03-05", "420102", "湖北省 武汉市 江岸区", "2026-03-02 08:00")]

    counsellor = await person(app, "C1")
    async with app[state.SERVICES].db.transaction() as conn:
        from server.storage.pass_status import PassStatusStore

        await PassStatusStore.add_arrival(conn, person_id=(await person(app, "S1")).id, counsellor_id=counsellor.id,
                                          at_s=1772416800, method="photo", serial=None)  # 2026-03-02 10:00 local
    r = await c.get("/api/v1/exports/arrivals.csv?from=2026-03-02&to=2026-03-02")
    rows = read_csv(await r.read())
    assert tuple(rows[0]) == ARRIVALS_HEADER
    assert rows[1:] == [["S1", "Name S1", "CS", "CS-1", "13900000001", "2026-03-02 10:00", "photo", "Person C1"]]
    r = await c.get("/api/v1/exports/arrivals.csv?from=2026-03-03&to=2026-03-03")
    assert read_csv(await r.read()) == [list(ARRIVALS_HEADER)]
    kinds = [e.detail["kind"] for e in await AuditLog(app[state.SERVICES].db).recent(action="export")]
    assert kinds == ["arrivals", "arrivals", "applications"]


async def test_a_department_that_cannot_be_a_file_name_still_gets_an_answer(login: Login) -> None:
    """Found by the schemathesis run: the department went into the download's file name as
    typed, and a non-Latin-1 or newline character made the server drop the connection unanswered."""
    a = await login("A1", role="school_admin", department="ADM")
    for department in ("计算机", 'CS"\r\nX-Injected: 1', "ÿ\x00"):
        r = await a.get("/api/v1/exports/missing.csv", params={"department": department})
        assert r.status == 200, department
        assert "X-Injected" not in r.headers
        disposition = r.headers["Content-Disposition"]
        assert disposition.isascii() and disposition.count('"') == 2 and "\n" not in disposition
        assert tuple(read_csv(await r.read())[0]) == MISSING_HEADER
