"""Co-presence tracing and occupancy on a generated campus with a known answer, through the
real sync ingest and the HTTP API (issue 19)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp.test_utils import TestClient

from server.storage.audit import AuditLog
from server.storage.scans import ScanLog
from server.web import state
from server.web.tracing import iso

from .conftest import Campus, local_ms, login_as

PEOPLE = {"P": "CS", "A": "CS", "B": "EE", "C": "EE", "D": "CS", "E": "EE", "F": "CS", "G": "EE", "H": "EE",
          "I": "CS", "J": "CS", "K": "EE", "L": "EE"}

# Who overlapped P (the confirmed case) and by how many minutes, per building:
EXPECTED = {
    "E": 570.0,  # D1, entered 21:00, never badged out (cut off 16 h later): all of P's night
    "D": 420.0,  # D1 23:00 -> 06:00 next day: across midnight
    "F": 75.0,   # LIB 09:30 -> 10:45; the exit door was offline and uploaded the next day
    "A": 60.0,   # LIB 10:00 -> 12:00 against P's 09:00 -> 11:00
    "G": 50.0,   # CAN entry-only 12:10 (+60 min) against P's 12:00 -> 13:00; uploaded twice
    "C": 30.0,   # CAN entry-only 12:30
}
# B overlapped 5 min only (below 15); H's library entry was refused (never inside).


async def build(campus_of: Callable[[], Campus]) -> Campus:
    c = campus_of()
    await c.build({f"S{n}": d for n, d in PEOPLE.items()})
    s = c.scan
    s("lib-in", "SP", 2, "09:00"), s("lib-out", "SP", 2, "11:00")
    s("can-in", "SP", 2, "12:00")
    s("d1-in", "SP", 2, "22:00"), s("d1-out", "SP", 3, "07:30")
    s("lib-in", "SA", 2, "10:00"), s("lib-out", "SA", 2, "12:00")
    s("lib-in", "SB", 2, "10:55"), s("lib-out", "SB", 2, "11:30")
    s("can-in", "SC", 2, "12:30")
    s("d1-in", "SD", 2, "23:00"), s("d1-out", "SD", 3, "06:00")
    s("d1-in", "SE", 2, "21:00")
    s("lib-in", "SF", 2, "09:30"), s("lib-out", "SF", 2, "10:45")
    s("can-in", "SG", 2, "12:10")
    s("lib-in", "SH", 2, "09:10", verdict="deny")
    s("lib-in", None, 2, "09:20", verdict="deny")  # not a pass of ours: no subject
    s("d1-in", "SI", 3, "08:00")
    s("d1-in", "SJ", 3, "09:00"), s("d1-out", "SJ", 3, "10:00")
    for feed in c.feeds.values():  # the exit nodes sort their records by seq (time order here)
        feed.pending.sort(key=lambda r: r["seq"])
    c.advance_to(3, "10:30")
    for node in ("d1-in", "d1-out", "lib-in", "can-in"):
        await c.upload(node)
    c.advance_to(3, "12:00")  # the library's exit node was offline until now
    assert await c.upload("lib-out") == 4
    assert await c.upload("can-in", c.feeds["can-in"].sent) == 0  # a retried batch: nothing new
    return c


async def query(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    payload = {"number": "SP", "reason": "confirmed case reported by the city CDC", **body}
    r = await client.post("/api/v1/tracing/queries", json=payload)
    assert r.status == 200, await r.text()
    return await r.json()  # type: ignore[no-any-return]


async def test_contacts_of_a_confirmed_case_match_the_known_answer(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    c.advance_to(3, "14:00")
    await login_as(client, "ADM", "school_admin")
    out = await query(client)
    got = {x["number"][1:]: x["overlap_min"] for x in out["contacts"]}
    assert got == EXPECTED
    assert [x["number"][1:] for x in out["contacts"]] == list(EXPECTED)  # ranked by total overlap
    assert {x["number"]: x["department"] for x in out["contacts"]}["SE"] == "EE"
    stays = [(s["building"], s["entered_at"], s["left_at"], s["ended"]) for s in out["stays"]]
    assert stays == [("LIB", iso(local_ms(2, "09:00")), iso(local_ms(2, "11:00")), "exit"),
                     ("CAN", iso(local_ms(2, "12:00")), iso(local_ms(2, "13:00")), "default_stay"),
                     ("D1", iso(local_ms(2, "22:00")), iso(local_ms(3, "07:30")), "exit")]
    per_stay = {s["building"]: {x["number"]: x["overlap_min"] for x in s["contacts"]} for s in out["stays"]}
    assert per_stay == {"LIB": {"SF": 75.0, "SA": 60.0}, "CAN": {"SG": 50.0, "SC": 30.0},
                        "D1": {"SE": 570.0, "SD": 420.0}}
    depts = {d["department"]: (d["contacts"], d["overlap_min"]) for d in out["departments"]}
    assert depts == {"EE": (3, 650.0), "CS": (3, 555.0)}


async def test_the_threshold_and_the_period_narrow_the_answer(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    c.advance_to(3, "14:00")
    await login_as(client, "ADM", "school_admin")
    out = await query(client, min_overlap_min=4)
    assert {x["number"] for x in out["contacts"]} == {f"S{n}" for n in EXPECTED} | {"SB"}
    # B overlapped exactly 5 minutes: "at least the threshold" counts, one minute more does not
    out = await query(client, min_overlap_min=5)
    assert {x["number"]: x["overlap_min"] for x in out["contacts"]}["SB"] == 5.0
    out = await query(client, min_overlap_min=6)
    assert "SB" not in {x["number"] for x in out["contacts"]}
    out = await query(client, min_overlap_min=100)
    assert {x["number"] for x in out["contacts"]} == {"SE", "SD"}
    # only the morning of day 2: the library stay, F and A; the evening is outside
    out = await query(client, **{"from": "2026-03-02T08:00", "to": "2026-03-02T11:30"})
    assert {x["number"]: x["overlap_min"] for x in out["contacts"]} == {"SF": 75.0, "SA": 60.0}
    # a whole local day: D1 is cut at midnight, so E's and D's overlaps shrink
    out = await query(client, **{"from": "2026-03-02", "to": "2026-03-02"})
    got = {x["number"]: x["overlap_min"] for x in out["contacts"]}
    assert got["SE"] == 120.0 and got["SD"] == 60.0


async def test_late_and_repeated_uploads_count_in_the_right_stay_once(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    db = c.app[state.SERVICES].db
    # the library's exit node was offline: the server received its scans a day after they were made
    rows = await db.fetch_all("SELECT at_ms, received_at FROM scans WHERE node_id = 'lib-out' ORDER BY at_ms")
    assert [r[0] for r in rows] == [local_ms(2, t) for t in ("10:45", "11:00", "11:30", "12:00")]
    assert all(r[1] * 1000 == local_ms(3, "12:00") for r in rows)
    c.advance_to(3, "14:00")
    await login_as(client, "ADM", "school_admin")
    first = await query(client)
    # F's stay ends at the late exit (10:45, 75 min with P), not at its arrival (day 3 12:00, which
    # would make F's stay reach past P's 11:00 exit and count 90 min)
    assert {x["number"]: x["overlap_min"] for x in first["contacts"]}["SF"] == 75.0
    assert first["stays"][0]["left_at"] == iso(local_ms(2, "11:00"))

    # every node retries what it already sent (an acknowledgement lost); the library exit node
    # sends its whole log again together with one new record: only the new one is stored
    made = sum(feed.seq for feed in c.feeds.values())
    assert await ScanLog(db).count() == made
    for node in ("d1-in", "d1-out", "lib-in", "can-in"):
        assert await c.upload(node, c.feeds[node].sent) == 0
    c.scan("lib-out", "SK", 3, "13:30")
    feed = c.feeds["lib-out"]
    assert await c.upload("lib-out", feed.sent + feed.pending) == 1
    assert await ScanLog(db).count() == made + 1
    again = await query(client)
    assert again["stays"] == first["stays"] and again["contacts"] == first["contacts"]
    assert [x["number"] for x in again["contacts"]].count("SG") == 1
    assert all(x["stays"] == 1 for x in again["contacts"])  # each contact shared one stay with P, once
    r = await client.get("/api/v1/occupancy")
    assert {b["code"]: b["inside"] for b in (await r.json())["buildings"]} == {"D1": 1, "LIB": 0}


async def test_every_query_leaves_one_audit_entry_with_the_reason(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    c.advance_to(3, "14:00")
    await login_as(client, "ADM", "school_admin")
    audit = AuditLog(c.app[state.SERVICES].db)
    before = len(await audit.recent(action="tracing_query"))
    await query(client, reason="case 2026-031 reported at 13:10")
    await query(client, reason="second look, narrower", min_overlap_min=60)
    entries = await audit.recent(action="tracing_query")
    assert len(entries) == before + 2
    assert entries[0].detail["reason"] == "second look, narrower" and entries[0].detail["min_overlap_min"] == 60
    assert entries[1].detail["reason"] == "case 2026-031 reported at 13:10"
    assert entries[1].detail["number"] == "SP" and entries[1].detail["contacts"] == len(EXPECTED)
    assert entries[1].actor_number == "ADM" and entries[1].target_person_id is not None
    # no reason: refused, nothing read, nothing recorded; unknown number: 404, recorded
    r = await client.post("/api/v1/tracing/queries", json={"number": "SP", "reason": " "})
    assert r.status == 422 and (await r.json())["error"]["code"] == "invalid_field"
    r = await client.post("/api/v1/tracing/queries", json={"number": "NOBODY", "reason": "typo check"})
    assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_person"
    entries = await audit.recent(action="tracing_query")
    assert len(entries) == before + 3 and entries[0].detail["found"] is False


async def test_counsellor_student_and_system_admin_are_refused(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    audit = AuditLog(c.app[state.SERVICES].db)
    for number, role, dept in (("C1", "counsellor", "CS"), ("ST1", "student", "CS"), ("SYS", "system_admin", None)):
        await login_as(client, number, role, dept)
        r = await client.post("/api/v1/tracing/queries", json={"number": "SP", "reason": "just curious"})
        assert r.status == 403, role
        assert (await r.json())["error"]["code"] == "forbidden"
        r = await client.get("/api/v1/occupancy")
        assert r.status == 403, role
        r = await client.get("/tracing")
        assert r.status == 403, role
        await client.post("/api/v1/auth/logout", json={})
    assert await audit.recent(action="tracing_query") == []


async def test_occupancy_counts_people_inside_with_a_cut_off_for_those_never_badged_out(
        client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    await login_as(client, "ADM", "school_admin")
    c.advance_to(3, "12:30")
    r = await client.get("/api/v1/occupancy")
    assert r.status == 200
    out = {b["code"]: b for b in (await r.json())["buildings"]}
    assert set(out) == {"D1", "LIB"}  # the canteen has no exit node
    assert out["D1"]["inside"] == 2  # E (15.5 h, never out) and I; J left at 10:00
    assert out["LIB"]["inside"] == 0
    assert out["D1"]["newest_scan_at"] == iso(local_ms(3, "10:00"))
    c.scan("lib-in", "SK", 3, "13:00")
    c.scan("lib-in", "SL", 3, "13:30")
    c.advance_to(3, "14:00")
    await c.upload("lib-in")
    r = await client.put("/api/v1/buildings/LIB/capacity", json={"capacity": 1})
    assert r.status == 200
    out = {b["code"]: b for b in (await (await client.get("/api/v1/occupancy")).json())["buildings"]}
    assert out["D1"]["inside"] == 1  # E's stay was cut off at 13:00
    assert (out["LIB"]["inside"], out["LIB"]["capacity"], out["LIB"]["over_capacity"]) == (2, 1, True)
    page = await client.get("/dashboard/school")
    assert page.status == 200 and "/occupancy" in await page.text()
    r = await client.put("/api/v1/buildings/NOPE/capacity", json={"capacity": 5})
    assert r.status == 404
    r = await client.put("/api/v1/buildings/LIB/capacity", json={"capacity": 0})
    assert r.status == 422
    entries = await AuditLog(c.app[state.SERVICES].db).recent(action="building_capacity")
    assert [e.detail for e in entries] == [{"building": "LIB", "capacity": 1}]


async def test_csv_export_has_a_bom_and_groups_by_department(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    c.advance_to(3, "14:00")
    await login_as(client, "ADM", "school_admin")
    r = await client.post("/api/v1/tracing/queries?format=csv", json={"number": "SP", "reason": "export for CDC"})
    assert r.status == 200 and r.content_type == "text/csv"
    raw = await r.read()
    assert raw.startswith("\ufeff".encode())
    lines = raw.decode("utf-8-sig").splitlines()
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["CS", "SD"], ["CS", "SF"], ["CS", "SA"], ["EE", "SE"], ["EE", "SG"], ["EE", "SC"]]
    entries = await AuditLog(c.app[state.SERVICES].db).recent(action="tracing_query")
    assert [e.detail["reason"] for e in entries] == ["export for CDC"]  # the export is a query: one entry


async def test_school_admin_pages_run_the_query_and_show_occupancy(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    c.advance_to(3, "14:00")
    await login_as(client, "ADM", "school_admin")
    r = await client.get("/tracing")
    assert r.status == 200
    html = await r.text()
    csrf = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = await client.post("/tracing", data={"csrf_token": csrf, "number": "SP", "reason": "page query",
                                            "min_overlap_min": "15"})
    assert r.status == 200
    text = await r.text()
    assert "Name SE" in text and "Name SB" not in text and "570.0" in text
    r = await client.post("/tracing", data={"csrf_token": csrf, "number": "SP", "reason": ""})
    assert r.status == 422
    entries = await AuditLog(c.app[state.SERVICES].db).recent(action="tracing_query")
    assert [e.detail["reason"] for e in entries] == ["page query"]  # the refused one left none
    r = await client.get("/occupancy")
    assert r.status == 200 and "Dormitory 1" in await r.text()


def chart_row(html: str, name: str) -> list[int]:
    """The hourly counts of one building in the occupancy page's table."""
    row = html.split(f"<tr><td>{name}</td>", 1)[1].split("</tr>", 1)[0]
    return [int(cell.split("</td>", 1)[0]) for cell in row.split("<td>")[1:]]


async def test_a_late_upload_into_a_past_hour_changes_that_hour_of_the_chart(
        client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = await build(campus)
    await login_as(client, "ADM", "school_admin")
    c.advance_to(3, "14:00")
    page = await client.get("/occupancy")
    assert page.status == 200
    before = chart_row(await page.text(), "Library")
    assert before == [0] * 15  # 00:00 ... 14:00: nobody in the library on day 3 yet
    # the library's doors were offline: K was inside 11:10 -> 12:20, L 12:50 -> 13:40; both
    # hours were settled (kept, their counts remembered) when the page was shown
    c.scan("lib-in", "SK", 3, "11:10"), c.scan("lib-out", "SK", 3, "12:20")
    c.scan("lib-in", "SL", 3, "12:50"), c.scan("lib-out", "SL", 3, "13:40")
    c.advance_to(3, "14:05")
    await c.upload("lib-in"), await c.upload("lib-out")
    after = chart_row(await (await client.get("/occupancy")).text(), "Library")
    assert after == [0] * 12 + [1, 1, 0]  # 12:00 (K) and 13:00 (L) changed, nothing else
    assert c.app[state.SERVICES].occupancy_scans.rereads == 1  # the library only, read again
    assert chart_row(await (await client.get("/occupancy")).text(), "Library") == after
