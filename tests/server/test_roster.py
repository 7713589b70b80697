"""Roster import: bad rows reported by line, all-or-nothing unless skipped, re-import keeps
passwords and subject ids, the ID digits are never stored."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from server.roster import import_roster, parse_roster
from server.storage.people import People
from server.web import state
from shared.clock import to_unix
from tests.server.conftest import activate, add_person

HEADER = "number,name,id_last6,department_code,department_name,role,phone,class\n"
GOOD = (
    "2021001,张三,31452X,CS,计算机学院,student,13800138000,计科2101\n"
    "2021002,李四,000123,CS,计算机学院,student,,\n"
    "T01,王老师,54321x,CS,计算机学院,counsellor,,\n"
    "T01,王老师,54321x,MATH,数学学院,counsellor,,\n"
    "E01,赵老师,111111,MATH,数学学院,staff,,\n"
)


def test_parse_reports_bad_rows_with_line_numbers() -> None:
    data = ("\ufeff" + HEADER + GOOD
            + "2021003,钱,12345,CS,计算机学院,student,,\n"        # line 7: leading zero dropped
            + "2021004,孙,12345Y,CS,计算机学院,student,,\n"       # line 8
            + "2021005,周,123456,CS,计算机学院,teacher,,\n"       # line 9
            + "2021001,张三,31452X,CS,计算机学院,student,,\n"     # line 10: duplicate
            + "2021006,吴,123456,CS,Computing,student,,\n"       # line 11: name mismatch
            + "2021007,郑,123456,CS,计算机学院,student,12345,\n"  # line 12: bad phone
            + "\n"
            + ",无号,123456,CS,计算机学院,student,,\n"            # line 14
            ).encode("utf-8")
    rows, problems = parse_roster(data)
    assert [r.number for r in rows] == ["2021001", "2021002", "T01", "T01", "E01"]
    assert rows[0].id_last6 == "31452X" and rows[2].id_last6 == "54321X" and rows[0].phone == "13800138000"
    lines = {p.line: p.reason for p in problems}
    assert sorted(lines) == [7, 8, 9, 10, 11, 12, 14]
    assert "leading 0" in lines[7]
    assert "teacher" in lines[9]
    assert "already on line 2" in lines[10]
    assert "计算机学院" in lines[11]


def test_parse_refuses_unusable_files() -> None:
    assert parse_roster(b"")[1][0].reason.startswith("the file is empty")
    assert "missing column" in parse_roster(b"number,name\n1,a\n")[1][0].reason
    assert "not UTF-8" in parse_roster(HEADER.encode() + "1,张,123456,CS,计,student,,\n".encode("gbk"))[1][0].reason



def test_parse_refuses_full_width_id_digits_and_control_characters() -> None:
    data = (HEADER
            + "2021011,钱,１２３４５X,CS,计算机学院,student,,\n"   # line 2: full-width digits (no one can type them back)
            + "2021012,孙,١٢٣٤٥٦,CS,计算机学院,student,,\n"      # line 3: Arabic-Indic digits
            + "2021013,Na\x00me,123456,CS,计算机学院,student,,\n"  # line 4: NUL in the name
            + '2021014,"two\r\nlines",123456,CS,计算机学院,student,,\n'  # lines 5-6: a quoted line break
            + "20210\x0715,周,123456,CS,计算机学院,student,,\n"   # line 7: BEL in the number
            + "2021016,吴,123456,CS,计算机学院,student,,计科\x1b21\n"  # line 8: ESC in the class
            + "2021017,郑,123456,CS,计算机学院,student,,\n"
            ).encode("utf-8")
    rows, problems = parse_roster(data)
    assert [r.number for r in rows] == ["2021017"]
    lines = {p.line: p.reason for p in problems}
    assert sorted(lines) == [2, 3, 4, 6, 7, 8]  # a record is reported on the line where it ends
    assert "5 digits" in lines[2] and "5 digits" in lines[3]
    assert "name holds a control character" in lines[4] and "name holds a control character" in lines[6]
    assert "number holds" in lines[7] and "class holds" in lines[8]

async def test_import_is_all_or_nothing_unless_skipping(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    db, hasher = app[state.SERVICES].db, app[state.HASHER]
    now_s = to_unix(app[state.CLOCK].now())
    bad = (HEADER + GOOD + "2021009,坏,12,CS,计算机学院,student,,\n").encode()
    try:
        await import_roster(db, hasher, bad, now_s=now_s, actor_number="test")
        raise AssertionError("a roster with a bad row was imported")
    except Exception as exc:  # RosterError
        assert getattr(exc, "code", "") == "bad_roster"
        assert [p.line for p in exc.problems] == [7]  # type: ignore[attr-defined]
    assert await People(db).count() == 0
    result = await import_roster(db, hasher, bad, now_s=now_s, actor_number="test", skip_bad_rows=True)
    assert (result.created, result.updated, result.departments) == (4, 0, 2)
    assert [p.line for p in result.skipped] == [7]
    t01 = await People(db).by_number("T01")
    assert t01 is not None and t01.role == "counsellor" and t01.departments == ("CS", "MATH")


async def test_reimport_updates_people_but_not_passwords(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    db, hasher = app[state.SERVICES].db, app[state.HASHER]
    now_s = to_unix(app[state.CLOCK].now())
    await import_roster(db, hasher, (HEADER + GOOD).encode(), now_s=now_s, actor_number="test")
    before = await People(db).by_number("2021001")
    assert before is not None and len(before.subject) == 8
    await activate(client, "2021001", "31452x", new_password="my-own-secret", phone="13900000001")

    changed = GOOD.replace("2021001,张三,31452X,CS,计算机学院,student,13800138000,计科2101",
                           "2021001,张三丰,999999,MATH,数学学院,student,13800000000,数学2101")
    result = await import_roster(db, hasher, (HEADER + changed).encode(), now_s=now_s + 60, actor_number="test")
    assert (result.created, result.updated) == (0, 4)
    after = await People(db).by_number("2021001")
    assert after is not None
    assert (after.name, after.department, after.class_name) == ("张三丰", "MATH", "数学2101")
    assert after.subject == before.subject
    assert after.password_hash != before.password_hash  # the person's own, set above
    assert after.initial_hash == before.initial_hash     # untouched by the re-import
    assert after.phone == "13900000001" and after.phone_verified  # verified phone kept
    await client.post("/api/v1/auth/logout", json={})
    r = await client.post("/api/v1/auth/login", json={"username": "2021001", "password": "my-own-secret"})
    assert r.status == 200


async def test_id_digits_are_never_stored(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    db = app[state.SERVICES].db
    await import_roster(db, app[state.HASHER], (HEADER + "2021777,甲,86420X,CS,计算机学院,student,,\n").encode(),
                        now_s=to_unix(app[state.CLOCK].now()), actor_number="test")
    stored = await db.fetch_all("SELECT * FROM people")
    assert not any("86420" in str(value) for r in stored for value in r)
    if db.backend == "sqlite":  # the file itself, free pages and WAL included
        await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = app[state.DATADIR].db_path.read_bytes()
        assert b"86420" not in raw
    row = await db.fetch_one("SELECT password_hash, initial_hash FROM people WHERE number = '2021777'")
    assert row is not None
    assert all(re.match(r"^\$argon2id\$v=19\$", h) for h in row)


async def test_roster_import_from_the_admin_api_and_page(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "A1", role="school_admin", department=None)
    await activate(client, "A1")
    r = await client.post("/api/v1/admin/roster", json={"csv": HEADER + GOOD + "X,坏,1,CS,计算机学院,student,,\n"})
    assert r.status == 422
    err = (await r.json())["error"]
    assert err["code"] == "bad_roster" and err["problems"][0]["line"] == 7
    r = await client.post("/api/v1/admin/roster", json={"csv": HEADER + GOOD})
    assert r.status == 200 and (await r.json())["created"] == 4

    page = await client.get("/admin/roster")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    from aiohttp import FormData

    form = FormData()
    form.add_field("csrf_token", token.group(1))
    form.add_field("file", ("\ufeff" + HEADER + "2021100,新生,123456,CS,计算机学院,student,,\n").encode(),
                   filename="roster.csv", content_type="text/csv")
    r = await client.post("/admin/roster", data=form)
    assert r.status == 200 and "导入完成" in await r.text()
    assert await People(app[state.SERVICES].db).by_number("2021100") is not None
    r = await client.get("/api/v1/admin/audit", params={"action": "roster_import"})
    entries = (await r.json())["entries"]
    assert len(entries) == 2 and entries[0]["actor_number"] == "A1"


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: (HEADER + t).encode("utf-8")))
def test_parser_never_raises_and_every_problem_has_a_line(data: bytes) -> None:
    rows, problems = parse_roster(data)
    assert all(p.line >= 1 and p.reason for p in problems)
    assert all(len(r.id_last6) == 6 for r in rows)


async def test_large_roster_through_the_api(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "A1", role="system_admin", department=None)
    await activate(client, "A1")
    rows = "".join(f"{2030000 + i},{'长' * 90}{i},{i % 100000:05d}{i % 10},CS,计算机学院,student,,\n"
                   for i in range(100))
    csv_text = HEADER + rows + ",,,,,,,\n" * 40_000  # empty rows, as spreadsheets export them, are skipped
    assert len(csv_text.encode()) > 256 * 1024
    r = await client.post("/api/v1/admin/roster", json={"csv": csv_text})
    assert r.status == 200, await r.text()
    assert (await r.json())["created"] == 100


async def test_reimport_can_change_a_counsellor_role_and_departments(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    db, hasher = app[state.SERVICES].db, app[state.HASHER]
    now_s = to_unix(app[state.CLOCK].now())
    await import_roster(db, hasher, (HEADER + GOOD).encode(), now_s=now_s, actor_number="test")
    moved = GOOD.replace("T01,王老师,54321x,MATH,数学学院,counsellor,,\n", "")
    await import_roster(db, hasher, (HEADER + moved).encode(), now_s=now_s, actor_number="test")
    t01 = await People(db).by_number("T01")
    assert t01 is not None and t01.departments == ("CS",)
    demoted = moved.replace("T01,王老师,54321x,CS,计算机学院,counsellor,,", "T01,王老师,54321x,CS,计算机学院,staff,,")
    await import_roster(db, hasher, (HEADER + demoted).encode(), now_s=now_s, actor_number="test")
    t01 = await People(db).by_number("T01")
    assert t01 is not None and t01.role == "staff"
    assert [p.number for p in await People(db).counsellors_of("CS")] == []
