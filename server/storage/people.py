"""People (campus accounts), departments and counsellor scopes (SQL only here).

A person row is the account of docs/architecture.md §2.1: number (username), name, role, department,
optional class and phone, two Argon2id hashes (current password and the initial password from
the roster, so an admin reset can return to it) and an 8-byte random subject id used in passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import aiosqlite

from server.storage.database import Database

Role = Literal["student", "staff", "counsellor", "school_admin", "system_admin"]
ROLES: tuple[Role, ...] = ("student", "staff", "counsellor", "school_admin", "system_admin")
PasswordState = Literal["initial", "active"]

_COLUMNS = (
    "id, number, name, role, department, class_name, phone, phone_verified, password_hash,"
    " initial_hash, password_state, subject, created_at, updated_at, directory_login"
)


@dataclass(frozen=True, slots=True)
class Person:
    """One account.

    Attributes:
        id: row id (stable; other tables refer to it).
        number: student or staff number, the username; unique.
        role: one of :data:`ROLES`.
        department: department code, or None (system admins).
        class_name: class label from the roster, or None.
        phone: mobile number (``1xxxxxxxxxx``), or None; ``phone_verified`` says whether an SMS code
            confirmed it.
        password_hash / initial_hash: Argon2id PHC strings.
        password_state: ``initial`` until the person sets their own password.
        subject: 8 random bytes, the pseudonymous id in passes.
        departments: for counsellors, the department codes they look after (else empty).
        directory_login: has signed in through the university's login (LDAP or CAS).
    """

    id: int
    number: str
    name: str
    role: Role
    department: str | None
    class_name: str | None
    phone: str | None
    phone_verified: bool
    password_hash: str
    initial_hash: str
    password_state: PasswordState
    subject: bytes
    created_at_s: int
    updated_at_s: int
    departments: tuple[str, ...] = ()
    directory_login: bool = False

    @property
    def must_change_password(self) -> bool:
        """True while the roster's initial password is still the password (never for a person
        who signs in through the university's login: the directory holds their password)."""
        return self.password_state == "initial" and not self.directory_login

    @property
    def must_bind_phone(self) -> bool:
        """True until a mobile number has been verified by SMS code."""
        return not self.phone_verified

    @property
    def is_active(self) -> bool:
        """An active account has its own password and a verified phone (docs/architecture.md §2.1)."""
        return not (self.must_change_password or self.must_bind_phone)


@dataclass(frozen=True, slots=True)
class Department:
    """A department: code (as in the roster) and display name."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class NewPerson:
    """What creating or updating a person from the roster needs.

    ``initial_hash`` is only used when the person is new (re-import never touches passwords).
    """

    number: str
    name: str
    role: Role
    department: str | None
    class_name: str | None
    phone: str | None
    initial_hash: str
    subject: bytes


def _person(row: sqlite3.Row, departments: Sequence[str] = ()) -> Person:
    return Person(
        id=int(row["id"]),
        number=row["number"],
        name=row["name"],
        role=row["role"],
        department=row["department"],
        class_name=row["class_name"],
        phone=row["phone"],
        phone_verified=bool(row["phone_verified"]),
        password_hash=row["password_hash"],
        initial_hash=row["initial_hash"],
        password_state=row["password_state"],
        subject=bytes(row["subject"]),
        created_at_s=int(row["created_at"]),
        updated_at_s=int(row["updated_at"]),
        departments=tuple(departments),
        directory_login=bool(row["directory_login"]),
    )


class People:
    """Repository of people, departments and counsellor scopes.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _with_departments(self, row: sqlite3.Row | None) -> Person | None:
        if row is None:
            return None
        deps: list[str] = []
        if row["role"] == "counsellor":
            rows = await self.db.fetch_all(
                "SELECT department FROM counsellor_departments WHERE person_id = ? ORDER BY department",
                (row["id"],),
            )
            deps = [r[0] for r in rows]
        return _person(row, deps)

    async def by_id(self, person_id: int) -> Person | None:
        """The person with this row id, or None."""
        row = await self.db.fetch_one(f"SELECT {_COLUMNS} FROM people WHERE id = ?", (person_id,))
        return await self._with_departments(row)

    async def by_session(self, token_hash: bytes, now_s: int) -> tuple[Person, sqlite3.Row] | None:
        """The person of an unexpired session and the session row (``csrf_token``,
        ``last_seen_at``, ``expires_at``), in one query: this runs on every request."""
        cols = ", ".join("p." + c.strip() for c in _COLUMNS.split(","))
        row = await self.db.fetch_one(
            f"SELECT {cols}, s.csrf_token, s.last_seen_at, s.expires_at FROM sessions s"
            " JOIN people p ON p.id = s.person_id WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash, now_s),
        )
        person = await self._with_departments(row)
        if person is None or row is None:
            return None
        return person, row

    async def by_number(self, number: str) -> Person | None:
        """The person with this student/staff number, or None."""
        row = await self.db.fetch_one(f"SELECT {_COLUMNS} FROM people WHERE number = ?", (number,))
        return await self._with_departments(row)

    async def by_subject(self, subject: bytes) -> Person | None:
        """The person whose pseudonymous subject id is ``subject`` (8 bytes), or None."""
        row = await self.db.fetch_one(f"SELECT {_COLUMNS} FROM people WHERE subject = ?", (subject,))
        return await self._with_departments(row)

    async def in_departments(
        self, departments: Sequence[str] | None, *, role: Role | None = None, limit: int = 500, offset: int = 0
    ) -> list[Person]:
        """People of the given departments (all when None), ordered by number.

        Args:
            departments: department codes, or None for every department.
            role: only this role when given.
            limit / offset: paging (rows).
        """
        where: list[str] = []
        params: list[object] = []
        if departments is not None:
            if not departments:
                return []
            where.append(f"department IN ({','.join('?' * len(departments))})")
            params.extend(departments)
        if role is not None:
            where.append("role = ?")
            params.append(role)
        sql = f"SELECT {_COLUMNS} FROM people"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY number LIMIT ? OFFSET ?"
        params.extend([limit, offset])
        rows = await self.db.fetch_all(sql, params)
        return [p for p in [await self._with_departments(r) for r in rows] if p is not None]

    async def counsellors_of(self, department: str) -> list[Person]:
        """The counsellors looking after ``department`` (e.g. to notify them)."""
        rows = await self.db.fetch_all(
            f"SELECT {', '.join('p.' + c.strip() for c in _COLUMNS.split(','))} FROM people p"
            " JOIN counsellor_departments c ON c.person_id = p.id WHERE c.department = ? ORDER BY p.number",
            (department,),
        )
        return [p for p in [await self._with_departments(r) for r in rows] if p is not None]

    async def count(self) -> int:
        """Number of people."""
        row = await self.db.fetch_one("SELECT COUNT(*) FROM people")
        return int(row[0]) if row else 0

    async def roles_of(self, numbers: Sequence[str]) -> dict[str, str]:
        """``{number: role}`` for those of ``numbers`` that already have an account."""
        found: dict[str, str] = {}
        chunk = 500
        for i in range(0, len(numbers), chunk):
            part = list(numbers[i : i + chunk])
            rows = await self.db.fetch_all(
                f"SELECT number, role FROM people WHERE number IN ({','.join('?' * len(part))})", part
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    async def departments(self) -> list[Department]:
        """Every department, by code."""
        rows = await self.db.fetch_all("SELECT code, name FROM departments ORDER BY code")
        return [Department(r[0], r[1]) for r in rows]

    # -- writes (each takes the connection of a transaction opened by the caller) -------------

    @staticmethod
    async def upsert_department(conn: aiosqlite.Connection, code: str, name: str) -> None:
        """Create the department or rename it."""
        await conn.execute(
            "INSERT INTO departments (code, name) VALUES (?, ?)"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            (code, name),
        )

    @staticmethod
    async def upsert(conn: aiosqlite.Connection, person: NewPerson, now_s: int) -> bool:
        """Insert a new person, or update name/role/department/class of an existing one.

        Passwords, subject id and a verified phone are never changed by an update; an unverified
        phone is replaced by the roster's. Returns True when the person was created.
        """
        async with conn.execute("SELECT id FROM people WHERE number = ?", (person.number,)) as cur:
            row = await cur.fetchone()
        if row is None:
            await conn.execute(
                "INSERT INTO people (number, name, role, department, class_name, phone, phone_verified,"
                " password_hash, initial_hash, password_state, subject, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 'initial', ?, ?, ?)",
                (person.number, person.name, person.role, person.department, person.class_name,
                 person.phone, person.initial_hash, person.initial_hash, person.subject, now_s, now_s),
            )
            return True
        await conn.execute(
            "UPDATE people SET name = ?, role = ?, department = ?, class_name = ?,"
            " phone = CASE WHEN phone_verified = 1 THEN phone ELSE COALESCE(?, phone) END,"
            " updated_at = ? WHERE id = ?",
            (person.name, person.role, person.department, person.class_name, person.phone, now_s, row[0]),
        )
        return False

    @staticmethod
    async def upsert_many(conn: aiosqlite.Connection, people: Sequence[NewPerson], now_s: int) -> None:
        """:meth:`upsert` for many people in one ``executemany`` (roster import: tens of
        thousands of rows inside one transaction, so it must be quick). Same rules: an update
        never touches passwords, the subject id or a verified phone."""
        await conn.executemany(
            "INSERT INTO people (number, name, role, department, class_name, phone, phone_verified,"
            " password_hash, initial_hash, password_state, subject, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 'initial', ?, ?, ?)"
            " ON CONFLICT (number) DO UPDATE SET name = excluded.name, role = excluded.role,"
            " department = excluded.department, class_name = excluded.class_name,"
            " phone = CASE WHEN people.phone_verified = 1 THEN people.phone"
            " ELSE COALESCE(excluded.phone, people.phone) END,"
            " updated_at = excluded.updated_at",
            [(p.number, p.name, p.role, p.department, p.class_name, p.phone, p.initial_hash, p.initial_hash,
              p.subject, now_s, now_s) for p in people],
        )

    @staticmethod
    async def set_counsellor_departments(conn: aiosqlite.Connection, number: str, departments: Sequence[str]) -> None:
        """Replace the departments counsellor ``number`` looks after."""
        async with conn.execute("SELECT id FROM people WHERE number = ?", (number,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return
        await conn.execute("DELETE FROM counsellor_departments WHERE person_id = ?", (row[0],))
        await conn.executemany(
            "INSERT INTO counsellor_departments (person_id, department) VALUES (?, ?)",
            [(row[0], d) for d in dict.fromkeys(departments)],
        )

    @staticmethod
    async def add_counsellor_department(conn: aiosqlite.Connection, person_id: int, department: str) -> None:
        """Give counsellor ``person_id`` one more department (idempotent)."""
        await conn.execute(
            "INSERT INTO counsellor_departments (person_id, department) VALUES (?, ?)"
            " ON CONFLICT DO NOTHING",
            (person_id, department),
        )

    @staticmethod
    async def set_password(conn: aiosqlite.Connection, person_id: int, password_hash: str, now_s: int) -> None:
        """Store a new own password; the account leaves the ``initial`` state."""
        await conn.execute(
            "UPDATE people SET password_hash = ?, password_state = 'active', password_changed_at = ?,"
            " updated_at = ? WHERE id = ?",
            (password_hash, now_s, now_s, person_id),
        )

    @staticmethod
    async def mark_directory_login(conn: aiosqlite.Connection, person_id: int, now_s: int) -> None:
        """The person signed in through the university's login (LDAP or CAS)."""
        await conn.execute("UPDATE people SET directory_login = 1, updated_at = ? WHERE id = ? AND directory_login = 0",
                           (now_s, person_id))

    @staticmethod
    async def rehash_password(conn: aiosqlite.Connection, person_id: int, old_hash: str, new_hash: str) -> None:
        """Replace the stored hash of the same password (new Argon2id parameters); no-op when the
        password changed meanwhile."""
        await conn.execute("UPDATE people SET password_hash = ? WHERE id = ? AND password_hash = ?",
                           (new_hash, person_id, old_hash))

    @staticmethod
    async def reset_to_initial(conn: aiosqlite.Connection, person_id: int, now_s: int) -> None:
        """Admin reset: the initial password is the password again and must be changed."""
        await conn.execute(
            "UPDATE people SET password_hash = initial_hash, password_state = 'initial',"
            " password_changed_at = ?, updated_at = ? WHERE id = ?",
            (now_s, now_s, person_id),
        )

    @staticmethod
    async def set_verified_phone(conn: aiosqlite.Connection, person_id: int, phone: str, now_s: int) -> None:
        """Bind a phone number confirmed by an SMS code."""
        await conn.execute(
            "UPDATE people SET phone = ?, phone_verified = 1, updated_at = ? WHERE id = ?",
            (phone, now_s, person_id),
        )
