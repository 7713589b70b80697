"""Migration 0220 on a database written before it: existing holds learn who placed them (a
staff hold whose placer is unknown counts as the school admin's, the stricter reading), check-ins
learn their abnormal answers on record, and the answers later edits replace are kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.storage.database import Database, migration_files

NEW = 220


def old_database(path: Path) -> None:
    """A database with every migration before 0220 applied, as the older server left it."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    for number, name, sql in migration_files():
        if number < NEW:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))", (number, name))
    people = [(1, "S1", "student"), (2, "S2", "student"), (3, "S3", "student"), (4, "C1", "counsellor"),
              (5, "A1", "school_admin")]
    for pid, number, role in people:
        conn.execute("INSERT INTO people (id, number, name, role, password_hash, initial_hash, subject, created_at,"
                     " updated_at) VALUES (?, ?, ?, ?, 'x', 'x', ?, 0, 0)", (pid, number, number, role, bytes([pid]) * 8))
    rows = [(1, "hold", "green", "admin"), (2, "hold", "green", "admin"), (3, "hold", "black", "abnormal_checkin")]
    for pid, status, base, kind in rows:
        conn.execute("INSERT INTO pass_status (person_id, status, base, hold_kind, reason, last_checkin_day,"
                     " last_checkin_abnormal, updated_at) VALUES (?, ?, ?, ?, 'r', '2026-03-02', ?, 0)",
                     (pid, status, base, kind, int(kind == "abnormal_checkin")))
    # S1 was held by the counsellor; S2's hold has no history left (placer unknown)
    conn.execute("INSERT INTO pass_status_history (person_id, at, from_status, to_status, cause, actor_id)"
                 " VALUES (1, 0, 'green', 'hold', 'hold_admin', 4)")
    conn.execute("INSERT INTO checkins (person_id, day, location_kind, temperature_c, symptoms, case_contact_14d,"
                 " risk_area_14d, case_status, abnormal, submitted_at, updated_at) VALUES"
                 " (3, '2026-03-02', 'on_campus', 38.5, '[\"fever\"]', 0, 0, 'none', 1, 0, 0)")
    conn.commit()
    conn.close()


async def test_existing_holds_and_checkins_are_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    old_database(path)
    db = await Database.open(path)
    try:
        rows = {int(r[0]): (r[1], r[2], r[3]) for r in await db.fetch_all(
            "SELECT person_id, hold_by_role, hold_by, abnormal_day FROM pass_status")}
        assert rows == {1: ("counsellor", 4, None), 2: ("school_admin", None, None),
                        3: ("system", None, "2026-03-02")}
        r = await db.fetch_one("SELECT abnormal_on_record FROM checkins WHERE person_id = 3")
        assert r is not None and r[0] == 1
        # an edit now keeps the replaced answers (the trigger), in the same statement
        async with db.transaction() as conn:
            await conn.execute("UPDATE checkins SET temperature_c = 36.5, abnormal = 0, revisions = revisions + 1"
                               " WHERE person_id = 3")
        kept = await db.fetch_all("SELECT revision, temperature_c, abnormal FROM checkin_revisions WHERE person_id = 3")
        assert [tuple(k) for k in kept] == [(1, 38.5, 1)]
    finally:
        await db.close()
