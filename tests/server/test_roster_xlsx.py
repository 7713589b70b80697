"""Roster import from Excel workbooks: the demo roster as XLSX gives the same people as its CSV,
a workbook with bad rows gives a row/column/value report, damaged and legacy files a clear
message; the CLI and the admin page take XLSX as they take CSV."""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from campuspass.cli import main
from campuspass.demo_roster import demo_roster
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.roster import import_roster, parse_roster
from server.storage import Database
from server.storage.people import People
from server.web import state
from tests.server.conftest import activate, add_person


def xlsx_of(rows: list[list[object]], title: str = "名单") -> bytes:
    """A workbook as the registrar's Excel would save it."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_excel_types(cell: str) -> object:
    """Typed as Excel types a cell on entry: digit strings without a leading 0 become numbers."""
    return int(cell) if cell.isdigit() and not cell.startswith("0") else cell


def test_demo_roster_as_xlsx_parses_to_the_same_rows_as_its_csv() -> None:
    csv_text, accounts = demo_roster()
    table = list(csv.reader(io.StringIO(csv_text)))
    book = xlsx_of([table[0]] + [[as_excel_types(c) for c in r] for r in table[1:]])
    from_csv, csv_problems = parse_roster(csv_text.encode("utf-8"))
    from_xlsx, xlsx_problems = parse_roster(book)
    assert csv_problems == [] and xlsx_problems == []
    assert len(from_xlsx) == len([a for a in accounts if a.role != "school_admin"]) > 200  # admins: command line
    assert from_xlsx == from_csv  # same numbers, names, ID digits, departments, roles, classes, rows


async def test_demo_roster_as_xlsx_imports_the_same_people_as_its_csv(tmp_path: Path) -> None:
    csv_text, accounts = demo_roster(students_per_department=5)
    table = list(csv.reader(io.StringIO(csv_text)))
    book = xlsx_of([table[0]] + [[as_excel_types(c) for c in r] for r in table[1:]])
    hasher = PasswordHasher(FAST_TEST_PARAMS)
    people: list[list[tuple[object, ...]]] = []
    for name, data in (("csv", csv_text.encode()), ("xlsx", book)):
        db = await Database.open(tmp_path / f"{name}.sqlite3")
        try:
            result = await import_roster(db, hasher, data, now_s=1_700_000_000, actor_number="test")
            assert result.created == len(table) - 1 and result.skipped == []
            rows = await db.fetch_all("SELECT number, name, role, department, class_name, phone, initial_hash "
                                      "FROM people ORDER BY number")
            people.append([tuple(r)[:-1] for r in rows])
            initial = {r["number"]: r["initial_hash"] for r in rows}
            for a in accounts[:3]:  # the initial password is the ID digits, from either file
                assert await hasher.verify(a.initial_password, initial[a.number])
        finally:
            await db.close()
    assert people[0] == people[1] and len(people[0]) == len(table) - 1


def test_bad_xlsx_rows_are_reported_by_row_column_and_value() -> None:
    header = ["number", "name", "id_last6", "department_code", "department_name", "role", "phone", "class"]
    book = xlsx_of([
        header,
        [2021001, "张三", "31452X", "CS", "计算机学院", "student", 13800138000, "计科2101"],  # row 2: fine
        [2021002, "李四", 12345, "CS", "计算机学院", "student", None, None],               # row 3: leading 0 lost
        [2021003, "王五", "123456", "CS", "计算机学院", "teacher", None, None],            # row 4: role
        [None, None, None, None, None, None, None, None],                                  # row 5: blank, skipped
        [2021004, "赵六", "123456", "CS", "计算机学院", "student", 12345, None],           # row 6: phone
        [2021001, "张三", "31452X", "CS", "计算机学院", "student", None, None],            # row 7: duplicate
        [2021005, "钱七", 654321.0, "C S", "计算机学院", "student", None, None],           # row 8: dept code
    ])
    rows, problems = parse_roster(book)
    assert [r.number for r in rows] == ["2021001"]
    assert rows[0].phone == "13800138000"  # a number cell, not 1.3800138E10
    report = {p.line: (p.column, p.value) for p in problems}
    assert report == {3: ("id_last6", "12345"), 4: ("role", "teacher"), 6: ("phone", "12345"),
                      7: ("number", "2021001"), 8: ("department_code", "C S")}
    assert all(p.sheet == "名单" for p in problems)
    assert "leading 0" in next(p.reason for p in problems if p.line == 3)
    assert str(problems[0]).startswith("sheet '名单' row 3: id_last6 '12345'")


def test_unusable_workbooks_get_one_clear_problem() -> None:
    header_only = xlsx_of([["number", "name"]])
    assert "missing column(s) id_last6" in parse_roster(header_only)[1][0].reason
    assert "is empty" in parse_roster(xlsx_of([]))[1][0].reason
    damaged = xlsx_of([["number"]])[:300]  # a truncated upload
    (problem,) = parse_roster(damaged)[1]
    assert problem.line == 1 and "damaged" in problem.reason
    not_a_workbook = io.BytesIO()
    with zipfile.ZipFile(not_a_workbook, "w") as zf:
        zf.writestr("hello.txt", "a zip, not a workbook")
    (problem,) = parse_roster(not_a_workbook.getvalue())[1]
    assert problem.line == 1 and "cannot be read" in problem.reason
    legacy = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    (problem,) = parse_roster(legacy)[1]
    assert ".xls" in problem.reason and "xlsx" in problem.reason.lower()


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"\x00" * (201 * 1024 * 1024))
    data = bomb.getvalue()
    assert len(data) < 1024 * 1024
    (problem,) = parse_roster(data)[1]
    assert "unpacks to" in problem.reason


def test_cli_imports_an_xlsx_roster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["init", "--data", str(data)]) == 0
    capsys.readouterr()
    header = ["number", "name", "id_last6", "department_code", "department_name", "role"]
    roster = tmp_path / "名单.xlsx"
    roster.write_bytes(xlsx_of([header, [2021001, "张三", "31452X", "CS", "计算机学院", "student"],
                                [2021002, "李四", 1, "CS", "计算机学院", "student"]]))
    assert main(["server", "import-roster", "--data", str(data), str(roster)]) == 1
    err = capsys.readouterr().err
    assert "名单.xlsx: sheet '名单' row 3: id_last6 '1'" in err and "nothing was imported" in err
    assert main(["server", "import-roster", "--data", str(data), str(roster), "--skip-bad-rows"]) == 0
    assert "1 created, 0 updated, 1 departments, 1 rows skipped" in capsys.readouterr().out


async def test_xlsx_through_the_admin_api_and_upload_page(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "A1", role="school_admin", department=None)
    await activate(client, "A1")
    header = ["number", "name", "id_last6", "department_code", "department_name", "role"]
    bad = xlsx_of([header, [2021001, "张三", "31452X", "CS", "计算机学院", "student"],
                   [2021002, "李四", "1234567", "CS", "计算机学院", "student"]])
    r = await client.post("/api/v1/admin/roster", json={"xlsx_base64": base64.b64encode(bad).decode()})
    assert r.status == 422
    err = (await r.json())["error"]
    assert err["code"] == "bad_roster"
    assert err["problems"] == [{"line": 3, "column": "id_last6", "value": "1234567", "sheet": "名单",
                                "reason": err["problems"][0]["reason"]}]
    r = await client.post("/api/v1/admin/roster", json={"xlsx_base64": "not base64!"})
    assert r.status == 400
    r = await client.post("/api/v1/admin/roster", json={})
    assert r.status == 400

    page = await client.get("/admin/roster")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    form = FormData()
    form.add_field("csrf_token", token.group(1))
    form.add_field("file", bad, filename="名单.xlsx",
                   content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    r = await client.post("/admin/roster", data=form)
    html = await r.text()
    assert r.status == 422 and "<td>3</td><td>id_last6</td><td>1234567</td>" in html
    assert await People(app[state.SERVICES].db).by_number("2021001") is None  # nothing imported

    good = xlsx_of([header, [2021001, "张三", "31452X", "CS", "计算机学院", "student"]])
    form = FormData()
    form.add_field("csrf_token", token.group(1))
    form.add_field("file", good, filename="名单.xlsx")
    r = await client.post("/admin/roster", data=form)
    assert r.status == 200 and "导入完成" in await r.text()
    person = await People(app[state.SERVICES].db).by_number("2021001")
    assert person is not None and person.name == "张三"
