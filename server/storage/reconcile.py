"""What the reconciliation check (``campuspass server doctor``) reads, in four bulk queries
(SQL only here; the rules are in :mod:`server.doctor`)."""

from __future__ import annotations

from dataclasses import dataclass

from server.storage.database import Database
from server.storage.pass_status import _COLUMNS as _STATUS_COLUMNS
from server.storage.pass_status import StatusRow, _row


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """What the database says about one person, for the check.

    Attributes:
        person_id: ``people.id``.
        row: the stored pass status (a default ``none`` row when there is none).
        decisive_state: the state of the person's newest application that decides the pass
            status (``approved``, ``arrived`` or ``revoked``), or None.
        checkin_day / checkin_abnormal: the person's latest check-in (``YYYY-MM-DD``), or None,
            and whether its latest answers are abnormal.
        checkin_abnormal_on_record: whether any answer of that day was abnormal.
        live_passes: unexpired passes of the person on no revocation list (by serial or by subject).
    """

    person_id: int
    row: StatusRow
    decisive_state: str | None
    checkin_day: str | None
    checkin_abnormal: bool
    live_passes: int
    checkin_abnormal_on_record: bool = False


async def person_facts(db: Database, now_s: int) -> list[PersonFacts]:
    """Facts of every person who has a pass status row, a decisive application or a live pass,
    ordered by person id."""
    rows = {int(r[0]): _row(r) for r in await db.fetch_all(f"SELECT {_STATUS_COLUMNS} FROM pass_status")}
    decisive: dict[int, str] = {}
    for r in await db.fetch_all(
            "SELECT person_id, state FROM return_applications WHERE state IN ('approved', 'arrived', 'revoked')"
            " ORDER BY id"):
        decisive[int(r[0])] = str(r[1])  # the newest wins
    checkins = {int(r[0]): (str(r[1]), bool(r[2]), bool(r[3])) for r in await db.fetch_all(
        "SELECT c.person_id, c.day, c.abnormal, c.abnormal_on_record FROM checkins c"
        " JOIN (SELECT person_id, MAX(day) AS day FROM checkins GROUP BY person_id) m"
        " ON m.person_id = c.person_id AND m.day = c.day")}
    live = {int(r[0]): int(r[1]) for r in await db.fetch_all(
        "SELECT p.person_id, COUNT(*) FROM passes p WHERE p.person_id IS NOT NULL AND p.valid_until > ?"
        " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = p.serial)"
        " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.subject = p.subject AND p.issued_at < r.before_at"
        " AND r.expires_at > ?)"
        " GROUP BY p.person_id", (now_s, now_s))}
    people = sorted(set(rows) | set(decisive) | set(live))
    out = []
    for pid in people:
        day, abnormal, on_record = checkins.get(pid, (None, False, False))
        out.append(PersonFacts(pid, rows.get(pid) or StatusRow(pid), decisive.get(pid), day, abnormal, live.get(pid, 0),
                               on_record))
    return out
