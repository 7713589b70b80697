"""Roster import: the university's CSV of people (ARCHITECTURE §9).

Columns (header row, any order, case-insensitive): ``number, name, id_last6, department_code,
department_name, role`` and optionally ``phone, class``. UTF-8 with or without BOM, as
spreadsheets export it. ``role`` is student, staff, counsellor or school_admin; a counsellor
looking after several departments appears on one row per department.

New people get an 8-byte random subject id and the Argon2id hash of ``id_last6`` (upper-cased
X) as initial password; the digits are never stored. Re-importing updates name, role,
department, class and an unverified phone, never passwords, subject ids or history. A file
with bad rows imports nothing unless ``skip_bad_rows``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from server.accounts import normalise_phone
from server.errors import InvalidField
from server.passwords import PasswordHasher
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
    """A bad row: its line number and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class RosterError(InvalidField):
    """The roster was refused (bad rows without ``skip_bad_rows``, or an unreadable file).

    Code ``bad_roster``, category invalid; ``problems`` lists every bad row.
    """

    code = "bad_roster"

    def __init__(self, message: str, problems: list[RosterProblem]) -> None:
        super().__init__(message, detail={"problems": [{"line": p.line, "reason": p.reason} for p in problems]})
        self.problems = problems


@dataclass
class ImportResult:
    """What an import did: people created and updated, departments touched, rows skipped."""

    created: int = 0
    updated: int = 0
    departments: int = 0
    skipped: list[RosterProblem] = field(default_factory=list)


def parse_roster(data: bytes) -> tuple[list[RosterRow], list[RosterProblem]]:
    """Parse and check a roster file.

    Returns:
        The valid rows and the problems (a problem on line 1 means the file itself is unusable).
    """
    if len(data) > MAX_BYTES:
        return [], [RosterProblem(1, f"file of {len(data)} bytes is too large; at most {MAX_BYTES}")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RosterProblem(1, f"the file is not UTF-8 (byte {exc.start}); save it as CSV UTF-8")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RosterProblem(1, "the file is empty; expected a header row")]
    except csv.Error as exc:
        return [], [RosterProblem(1, f"not a CSV file: {exc}")]
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        return [], [RosterProblem(1, f"missing column(s) {', '.join(missing)}; header is {', '.join(columns)}")]
    unknown = [c for c in columns if c and c not in REQUIRED + OPTIONAL]
    if unknown:
        return [], [RosterProblem(1, f"unknown column(s) {', '.join(unknown)}; expected {', '.join(REQUIRED + OPTIONAL)}")]
    index = {c: i for i, c in enumerate(columns)}
    rows: list[RosterRow] = []
    problems: list[RosterProblem] = []
    seen: dict[str, RosterRow] = {}
    dept_names: dict[str, tuple[str, int]] = {}
    line = 1
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(RosterProblem(reader.line_num, f"not valid CSV: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in raw):
            continue
        row, reason = _check_row(raw, index, line)
        if row is None:
            problems.append(RosterProblem(line, reason))
            continue
        first = seen.get(row.number)
        if first is not None and not (row.role == first.role == "counsellor" and row.name == first.name):
            problems.append(RosterProblem(line, f"number {row.number} is already on line {first.line}"))
            continue
        known = dept_names.get(row.department_code)
        if known is not None and known[0] != row.department_name:
            problems.append(RosterProblem(line, f"department {row.department_code} is named {row.department_name!r}"
                                          f" here but {known[0]!r} on line {known[1]}"))
            continue
        dept_names.setdefault(row.department_code, (row.department_name, line))
        seen.setdefault(row.number, row)
        rows.append(row)
    return rows, problems


def _check_row(raw: list[str], index: dict[str, int], line: int) -> tuple[RosterRow | None, str]:
    def cell(name: str) -> str:
        i = index.get(name)
        return raw[i].strip() if i is not None and i < len(raw) else ""

    if len(raw) > len(index):
        return None, f"{len(raw)} cells but the header has {len(index)} columns"
    for column, i in index.items():
        if i < len(raw) and any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in raw[i].strip()):
            return None, f"{column or 'a cell'} holds a control character (a line break, tab or NUL)"
    number, name = cell("number"), cell("name")
    if not number or len(number) > 64 or any(c.isspace() for c in number):
        return None, f"number {number!r} must be 1-64 characters without spaces"
    if not name or len(name) > 100:
        return None, f"name {name!r} must be 1-100 characters"
    id6 = cell("id_last6").replace(" ", "").upper()
    if not _ID_LAST6.match(id6):
        hint = " (a spreadsheet may have dropped a leading 0: format the column as text)" if (
            id6.isdigit() and len(id6) < 6) else ""
        return None, f"id_last6 {cell('id_last6')!r} must be 6 characters: 5 digits then a digit or X{hint}"
    code, dname = cell("department_code"), cell("department_name")
    if not _CODE.match(code):
        return None, f"department_code {code!r} must be 1-32 letters, digits, '_', '-' or '.'"
    if not dname:
        return None, "department_name is empty"
    role = cell("role").lower()
    if role not in ROSTER_ROLES:
        return None, f"role {cell('role')!r}; expected one of {', '.join(ROSTER_ROLES)}"
    phone: str | None = cell("phone") or None
    if phone is not None:
        try:
            phone = normalise_phone(phone)
        except CampusPassError as exc:
            return None, exc.message
    class_name = cell("class") or None
    return RosterRow(line, number, name, id6, code, dname, role, phone, class_name), ""  # type: ignore[arg-type]


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
