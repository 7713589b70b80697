"""Roster import: the university's list of people, as CSV or an Excel workbook (XLSX).

Columns (header row, any order, case-insensitive): ``number, name, id_last6, department_code,
department_name, role`` and optionally ``phone, class``. CSV in UTF-8 with or without BOM, as
spreadsheets export it, or the XLSX file itself (first worksheet; :mod:`server.roster_sheet`).
Both go through the same row checks and the same report (line or row, column, bad value). ``role`` is student, staff, counsellor or school_admin; a counsellor
looking after several departments appears on one row per department.

New people get an 8-byte random subject id and the Argon2id hash of ``id_last6`` (upper-cased
X) as initial password; the digits are never stored. Re-importing updates name, role,
department, class and an unverified phone, never passwords, subject ids or history. A file
with bad rows imports nothing unless ``skip_bad_rows``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from server.accounts import normalise_phone
from server.errors import InvalidField
from server.passwords import PasswordHasher
from server.roster_sheet import SheetError, read_table
from server.storage import Database
from server.storage.audit import AuditLog
from server.storage.people import NewPerson, People, Role
from shared.errors import CampusPassError

REQUIRED = ("number", "name", "id_last6", "department_code", "department_name", "role")
OPTIONAL = ("phone", "class")
ROSTER_ROLES = ("student", "staff", "counsellor", "school_admin")
MAX_BYTES = 20 * 1024 * 1024
_ID_LAST6 = re.compile(r"^[0-9]{5}[0-9X]$")  # ASCII: \d would take full-width and other digits
_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One valid row; ``line`` is the 1-based line in the file."""

    line: int
    number: str
    name: str
    id_last6: str
    department_code: str
    department_name: str
    role: Role
    phone: str | None
    class_name: str | None


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """A bad row: its line (CSV; the row number in a spreadsheet) and why.

    ``column`` and ``value`` name the bad cell when one cell is at fault (else ""); ``sheet`` is
    the worksheet of an XLSX file (else "").
    """

    line: int
    reason: str
    column: str = ""
    value: str = ""
    sheet: str = ""

    def __str__(self) -> str:
        where = f"sheet {self.sheet!r} row {self.line}" if self.sheet else f"line {self.line}"
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        """The problem as the API reports it: ``{line, reason, column, value}`` (+ ``sheet``)."""
        out: dict[str, object] = {"line": self.line, "reason": self.reason, "column": self.column,
                                  "value": self.value}
        if self.sheet:
            out["sheet"] = self.sheet
        return out


class RosterError(InvalidField):
    """The roster was refused (bad rows without ``skip_bad_rows``, or an unreadable file).

    Code ``bad_roster``, category invalid; ``problems`` lists every bad row.
    """

    code = "bad_roster"

    def __init__(self, message: str, problems: list[RosterProblem]) -> None:
        super().__init__(message, detail={"problems": [p.as_dict() for p in problems]})
        self.problems = problems


@dataclass
class ImportResult:
    """What an import did: people created and updated, departments touched, rows skipped."""

    created: int = 0
    updated: int = 0
    departments: int = 0
    skipped: list[RosterProblem] = field(default_factory=list)


def parse_roster(data: bytes) -> tuple[list[RosterRow], list[RosterProblem]]:
    """Parse and check a roster file: CSV (UTF-8) or XLSX (see :mod:`server.roster_sheet`).

    Returns:
        The valid rows and the problems (a problem on line 1 means the file itself is unusable).
        Each problem names the line (CSV) or row (XLSX), and where one cell is at fault its column
        and value.
    """
    if len(data) > MAX_BYTES:
        return [], [RosterProblem(1, f"file of {len(data)} bytes is too large; at most {MAX_BYTES}")]
    try:
        table = read_table(data)
    except SheetError as exc:
        return [], [RosterProblem(1, str(exc))]
    sheet = table.sheet
    columns = [h.strip().lower() for h in table.header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        return [], [RosterProblem(1, f"missing column(s) {', '.join(missing)}; header is {', '.join(columns)}",
                                  sheet=sheet)]
    unknown = [c for c in columns if c and c not in REQUIRED + OPTIONAL]
    if unknown:
        return [], [RosterProblem(1, f"unknown column(s) {', '.join(unknown)}; expected "
                                     f"{', '.join(REQUIRED + OPTIONAL)}", sheet=sheet)]
    index = {c: i for i, c in enumerate(columns) if c}
    width = len(columns)
    rows: list[RosterRow] = []
    problems: list[RosterProblem] = []
    seen: dict[str, RosterRow] = {}
    dept_names: dict[str, tuple[str, int]] = {}
    try:
        for line, raw in table.rows:
            if not any(cell.strip() for cell in raw):
                continue
            try:
                row = _check_row(raw, index, width, line)
            except _BadCell as bad:
                problems.append(RosterProblem(line, bad.reason, bad.column, bad.value, sheet))
                continue
            first = seen.get(row.number)
            if first is not None and not (row.role == first.role == "counsellor" and row.name == first.name):
                problems.append(RosterProblem(line, f"number {row.number} is already on line {first.line}",
                                              "number", row.number, sheet))
                continue
            known = dept_names.get(row.department_code)
            if known is not None and known[0] != row.department_name:
                problems.append(RosterProblem(
                    line, f"department {row.department_code} is named {row.department_name!r}"
                          f" here but {known[0]!r} on line {known[1]}", "department_name", row.department_name,
                    sheet))
                continue
            dept_names.setdefault(row.department_code, (row.department_name, line))
            seen.setdefault(row.number, row)
            rows.append(row)
    except SheetError as exc:
        problems.append(RosterProblem(max(exc.line, 2), str(exc), sheet=sheet))
    return rows, problems


class _BadCell(Exception):
    def __init__(self, reason: str, column: str = "", value: str = "") -> None:
        super().__init__(reason)
        self.reason, self.column, self.value = reason, column, value


def _check_row(raw: list[str], index: dict[str, int], width: int, line: int) -> RosterRow:
    def cell(name: str) -> str:
        i = index.get(name)
        return raw[i].strip() if i is not None and i < len(raw) else ""

    extra = [c for c in raw[width:] if c.strip()]
    if extra:
        raise _BadCell(f"{width + len(extra)} cells but the header has {width} columns", "", extra[0])
    for column, i in index.items():
        if i < len(raw) and any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in raw[i].strip()):
            raise _BadCell(f"{column} holds a control character (a line break, tab or NUL)", column,
                           raw[i].strip())
    number, name = cell("number"), cell("name")
    if not number or len(number) > 64 or any(c.isspace() for c in number):
        raise _BadCell(f"number {number!r} must be 1-64 characters without spaces", "number", number)
    if not name or len(name) > 100:
        raise _BadCell(f"name {name!r} must be 1-100 characters", "name", name)
    id6 = cell("id_last6").replace(" ", "").upper()
    if not _ID_LAST6.match(id6):
        hint = " (a spreadsheet may have dropped a leading 0: format the column as text)" if (
            id6.isdigit() and len(id6) < 6) else ""
        raise _BadCell(f"id_last6 {cell('id_last6')!r} must be 6 characters: 5 digits then a digit or X{hint}",
                       "id_last6", cell("id_last6"))
    code, dname = cell("department_code"), cell("department_name")
    if not _CODE.match(code):
        raise _BadCell(f"department_code {code!r} must be 1-32 letters, digits, '_', '-' or '.'",
                       "department_code", code)
    if not dname:
        raise _BadCell("department_name is empty", "department_name", "")
    role = cell("role").lower()
    if role not in ROSTER_ROLES:
        raise _BadCell(f"role {cell('role')!r}; expected one of {', '.join(ROSTER_ROLES)}", "role", cell("role"))
    phone: str | None = cell("phone") or None
    if phone is not None:
        try:
            phone = normalise_phone(phone)
        except CampusPassError as exc:
            raise _BadCell(exc.message, "phone", cell("phone")) from None
    class_name = cell("class") or None
    return RosterRow(line, number, name, id6, code, dname, role, phone, class_name)  # type: ignore[arg-type]


async def import_roster(
    db: Database,
    hasher: PasswordHasher,
    data: bytes,
    *,
    now_s: int,
    actor_number: str,
    actor_id: int | None = None,
    skip_bad_rows: bool = False,
    address: str = "",
    progress: Callable[[int, int], None] | None = None,
    hash_concurrency: int = 2,
) -> ImportResult:
    """Parse, check and import a roster in one transaction (audited as ``roster_import``).

    Args:
        progress: called as ``(hashed, to_hash)`` while initial passwords of new people are hashed
            (about 45 ms each with the default Argon2id cost).
        hash_concurrency: hashes run at once (threads; one per core is right).

    Raises:
        RosterError: bad rows (and ``skip_bad_rows`` is false), or no usable row at all.
    """
    rows, problems = parse_roster(data)
    if problems and (not skip_bad_rows or any(p.line == 1 for p in problems)):
        raise RosterError(f"the roster has {len(problems)} bad row(s); nothing was imported", problems)
    existing = await People(db).roles_of(sorted({r.number for r in rows}))
    kept: list[RosterRow] = []
    for r in rows:
        if existing.get(r.number) == "system_admin":
            problems.append(RosterProblem(r.line, f"number {r.number} is a system admin account; not changed"))
        else:
            kept.append(r)
    if problems and not skip_bad_rows:
        raise RosterError(f"the roster has {len(problems)} bad row(s); nothing was imported", problems)
    new_numbers = {r.number: r for r in kept if r.number not in existing}
    hashes = await _hash_all([r.id_last6 for r in new_numbers.values()], hasher, hash_concurrency, progress)
    hash_of = dict(zip(new_numbers, hashes, strict=True))

    result = ImportResult(skipped=problems)
    counsellor_depts: dict[str, list[str]] = {}
    async with db.transaction() as conn:
        departments = {r.department_code: r.department_name for r in kept}
        for code, name in departments.items():
            await People.upsert_department(conn, code, name)
        result.departments = len(departments)
        first_rows: dict[str, RosterRow] = {}
        for r in kept:
            if r.role == "counsellor":
                counsellor_depts.setdefault(r.number, []).append(r.department_code)
            first_rows.setdefault(r.number, r)
        await People.upsert_many(conn, [
            NewPerson(r.number, r.name, r.role, r.department_code, r.class_name, r.phone,
                      hash_of.get(r.number, ""), secrets.token_bytes(8))
            for r in first_rows.values()], now_s)
        result.created = len(new_numbers)
        result.updated = len(first_rows) - len(new_numbers)
        for number, depts in counsellor_depts.items():
            await People.set_counsellor_departments(conn, number, depts)
        for number, r in first_rows.items():
            if existing.get(number) == "counsellor" and r.role != "counsellor":
                await People.set_counsellor_departments(conn, number, [])  # no longer a counsellor
        await AuditLog.add(conn, at_s=now_s, actor_id=actor_id, actor_number=actor_number, action="roster_import",
                           detail={"created": result.created, "updated": result.updated,
                                   "departments": result.departments, "skipped": len(problems)},
                           address=address)
    return result


async def _hash_all(secrets_: list[str], hasher: PasswordHasher, concurrency: int,
                    progress: Callable[[int, int], None] | None) -> list[str]:
    out: list[str] = [""] * len(secrets_)
    sem = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(i: int, value: str) -> None:
        nonlocal done
        async with sem:
            out[i] = await hasher.hash(value)
        done += 1
        if progress is not None and (done % 100 == 0 or done == len(secrets_)):
            progress(done, len(secrets_))

    await asyncio.gather(*(one(i, v) for i, v in enumerate(secrets_)))
    return out
