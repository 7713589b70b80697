"""Building groups and buildings (SQL only here)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from server.storage.database import Database
from shared.errors import CampusPassError


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A building group: id (as carried in pass scopes), name, admitted statuses, hours."""

    id: int
    name: str
    allowed_statuses: list[str]
    hours: list[str]


@dataclass(frozen=True, slots=True)
class BuildingRow:
    """A building: code, display name, group id."""

    code: str
    name: str
    group_id: int


class Buildings:
    """Repository of building groups and buildings; every change bumps ``policy_version``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure_group(
        self, name: str, allowed_statuses: list[str] | None = None, hours: list[str] | None = None
    ) -> int:
        """The id of group ``name``, created if missing (statuses/hours updated when given)."""
        async with self.db.transaction() as conn:
            return await self.ensure_group_in(conn, name, allowed_statuses, hours)

    @staticmethod
    async def ensure_group_in(conn: aiosqlite.Connection, name: str, allowed_statuses: list[str] | None = None,
                              hours: list[str] | None = None) -> int:
        """Like :meth:`ensure_group`, inside the caller's transaction. Two transactions of
        different people creating the same group at once (PostgreSQL runs them side by side) make
        one group: the second waits for the first's insert and then reads its row."""
        async with conn.execute("SELECT id FROM building_groups WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        if row is None:
            async with conn.execute(
                "INSERT INTO building_groups (name, allowed_statuses, hours) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO NOTHING RETURNING id",
                (name, ",".join(allowed_statuses or ["green"]), ",".join(hours or [])),
            ) as cur:
                inserted = await cur.fetchone()
            if inserted is None:
                async with conn.execute("SELECT id FROM building_groups WHERE name = ?", (name,)) as cur:
                    inserted = await cur.fetchone()
            gid = int(inserted[0]) if inserted else 0
        else:
            gid = int(row[0])
            if allowed_statuses is not None:
                await conn.execute(
                    "UPDATE building_groups SET allowed_statuses = ? WHERE id = ?",
                    (",".join(allowed_statuses), gid),
                )
            if hours is not None:
                await conn.execute(
                    "UPDATE building_groups SET hours = ? WHERE id = ?", (",".join(hours), gid)
                )
        await _bump_policy_version(conn)
        return gid

    async def add_building(self, code: str, name: str, group_name: str) -> BuildingRow:
        """Add or update building ``code`` in group ``group_name`` (group created if missing).

        Raises:
            CampusPassError: code ``bad_building_code`` for an empty or over-long code.
        """
        if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
            raise CampusPassError(
                f"building code {code!r}; expected 1-32 letters, digits, '-' or '_'",
                code="bad_building_code",
            )
        gid = await self.ensure_group(group_name)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO buildings (code, name, group_id) VALUES (?, ?, ?)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name, group_id = excluded.group_id",
                (code, name, gid),
            )
            await _bump_policy_version(conn)
        return BuildingRow(code, name, gid)

    async def groups(self) -> list[GroupRow]:
        """Every group, by id."""
        rows = await self.db.fetch_all(
            "SELECT id, name, allowed_statuses, hours FROM building_groups ORDER BY id"
        )
        return [
            GroupRow(r[0], r[1], [s for s in r[2].split(",") if s], [h for h in r[3].split(",") if h])
            for r in rows
        ]

    async def buildings(self) -> list[BuildingRow]:
        """Every building, by code."""
        rows = await self.db.fetch_all("SELECT code, name, group_id FROM buildings ORDER BY code")
        return [BuildingRow(r[0], r[1], r[2]) for r in rows]

    async def group_ids(self, names: list[str]) -> list[int]:
        """Group ids for names.

        Raises:
            CampusPassError: code ``unknown_group`` naming the first unknown group.
        """
        known = {g.name: g.id for g in await self.groups()}
        out = []
        for n in names:
            if n not in known:
                raise CampusPassError(
                    f"building group {n!r} does not exist; known: {sorted(known)}", code="unknown_group"
                )
            out.append(known[n])
        return out

    async def policy_version(self) -> int:
        """The current policy version (0 before any building exists)."""
        row = await self.db.fetch_one("SELECT value FROM settings WHERE name = 'policy_version'")
        return int(row[0]) if row else 0


async def _bump_policy_version(conn) -> None:  # type: ignore[no-untyped-def]
    await conn.execute(
        "INSERT INTO settings (name, value) VALUES ('policy_version', '1')"
        " ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)"
    )
