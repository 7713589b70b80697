"""The SMS outbox table and the phone one-time codes (SQL only here).

Messages are inserted with :meth:`SmsOutboxStore.enqueue` inside the caller's transaction, so a
message exists exactly when the decision that sends it committed. The sender claims due rows
(``pending`` → ``sending``), and records the outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aiosqlite

from server.storage.database import Database

SMS_STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "failed", "unknown")
"""Every state of an outbox row (the admin page shows each in words: ``sms_status`` of the text catalogue)."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One outbox row. Times are Unix seconds; ``status`` is pending/sending/sent/failed/unknown.

    ``params`` are the named values a provider's template needs (``{"name": "张三", ...}``);
    ``error_class`` is the last failure's class (retry, give_up, misconfigured, unknown; "" none).
    """

    id: str
    phone: str
    body: str
    purpose: str
    person_id: int | None
    status: str
    attempts: int
    next_attempt_at_s: int
    last_error: str
    created_at_s: int
    sent_at_s: int | None
    params: dict[str, str] = field(default_factory=dict)
    error_class: str = ""


_COLS = ("id, phone, body, purpose, person_id, status, attempts, next_attempt_at, last_error, created_at, sent_at,"
         " params, error_class")


def _msg(r: tuple) -> OutboxMessage:  # type: ignore[type-arg]
    return OutboxMessage(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]), r[8], int(r[9]), r[10],
                         json.loads(r[11]), r[12])


@dataclass(frozen=True, slots=True)
class PhoneCode:
    """A pending phone-binding code (hashed) with its limits; times in Unix seconds."""

    phone: str
    code_hash: bytes
    sent_at_s: int
    expires_at_s: int
    tries_left: int
    sends_in_window: int
    window_start_at_s: int


class SmsOutboxStore:
    """Repository of outbox messages and phone codes.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def enqueue(
        conn: aiosqlite.Connection,
        *,
        message_id: str,
        phone: str,
        body: str,
        purpose: str,
        now_s: int,
        person_id: int | None = None,
        params: dict[str, str] | None = None,
    ) -> bool:
        """Add a message inside the caller's transaction. A second enqueue of the same
        ``message_id`` is ignored (idempotent); returns True when the message is new.

        ``body`` is the full text (file and HTTP gateways); ``params`` the named values a
        template provider fills its pre-approved template with (server.sms_templates)."""
        cur = await conn.execute(
            "INSERT INTO sms_outbox (id, phone, body, purpose, person_id, next_attempt_at, created_at, params)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (message_id, phone, body, purpose, person_id, now_s, now_s,
             json.dumps(params or {}, ensure_ascii=False, sort_keys=True)),
        )
        return cur.rowcount == 1

    async def claim_due(self, now_s: int, limit: int) -> list[OutboxMessage]:
        """Mark up to ``limit`` due pending messages as ``sending`` and return them."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                f"SELECT {_COLS} FROM sms_outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                f" ORDER BY next_attempt_at, created_at LIMIT ?{self.db.skip_locked}",
                (now_s, limit),
            ) as cur:
                rows = [_msg(tuple(r)) for r in await cur.fetchall()]
            for m in rows:
                await conn.execute(
                    "UPDATE sms_outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ?", (m.id,)
                )
        return rows

    async def mark_sent(self, message_id: str, now_s: int) -> None:
        """The gateway accepted the message."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE sms_outbox SET status = 'sent', sent_at = ?, last_error = '', error_class = '' WHERE id = ?",
                (now_s, message_id),
            )

    async def mark_failed(self, message_id: str, error: str, retry_at_s: int | None, error_class: str = "retry",
                          ) -> None:
        """The gateway refused or was unreachable: retry at ``retry_at_s``, or give up when None.
        ``error_class`` (retry, give_up, misconfigured) is shown to admins."""
        async with self.db.transaction() as conn:
            if retry_at_s is None:
                await conn.execute(
                    "UPDATE sms_outbox SET status = 'failed', last_error = ?, error_class = ? WHERE id = ?",
                    (error, error_class, message_id),
                )
            else:
                await conn.execute(
                    "UPDATE sms_outbox SET status = 'pending', last_error = ?, error_class = ?, next_attempt_at = ?"
                    " WHERE id = ?",
                    (error, error_class, retry_at_s, message_id),
                )

    async def mark_unknown(self, message_id: str, error: str) -> None:
        """The provider may have taken the message (an answer lost after the request went out):
        ``unknown``, never resent automatically; an admin may retry it."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE sms_outbox SET status = 'unknown', last_error = ?, error_class = 'unknown' WHERE id = ?",
                (error, message_id),
            )

    async def mark_interrupted(self) -> int:
        """At startup: messages left ``sending`` by a crash become ``unknown`` (never resent
        automatically, so no message id is delivered twice); returns how many."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE sms_outbox SET status = 'unknown' WHERE status = 'sending'")
            return cur.rowcount

    async def retry(self, message_id: str, now_s: int) -> bool:
        """Admin action: put a failed or unknown message back in the queue; True if it was."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE sms_outbox SET status = 'pending', next_attempt_at = ?"
                " WHERE id = ? AND status IN ('failed', 'unknown')",
                (now_s, message_id),
            )
            return cur.rowcount == 1

    async def get(self, message_id: str) -> OutboxMessage | None:
        """One message, or None."""
        row = await self.db.fetch_one(f"SELECT {_COLS} FROM sms_outbox WHERE id = ?", (message_id,))
        return _msg(tuple(row)) if row else None

    async def recent(self, limit: int = 100, status: str | None = None) -> list[OutboxMessage]:
        """Newest messages first (for the admin page), optionally of one status."""
        if status is None:
            rows = await self.db.fetch_all(
                f"SELECT {_COLS} FROM sms_outbox ORDER BY created_at DESC, id LIMIT ?", (limit,)
            )
        else:
            rows = await self.db.fetch_all(
                f"SELECT {_COLS} FROM sms_outbox WHERE status = ? ORDER BY created_at DESC, id LIMIT ?",
                (status, limit),
            )
        return [_msg(tuple(r)) for r in rows]

    async def next_due_at(self) -> int | None:
        """When the earliest pending message is due (Unix seconds), or None."""
        row = await self.db.fetch_one("SELECT MIN(next_attempt_at) FROM sms_outbox WHERE status = 'pending'")
        return int(row[0]) if row and row[0] is not None else None

    # -- phone codes ---------------------------------------------------------------------------

    async def phone_code(self, person_id: int) -> PhoneCode | None:
        """The pending phone code of a person, or None."""
        row = await self.db.fetch_one(
            "SELECT phone, code_hash, sent_at, expires_at, tries_left, sends_in_window, window_start_at"
            " FROM phone_codes WHERE person_id = ?",
            (person_id,),
        )
        if row is None:
            return None
        return PhoneCode(row[0], bytes(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]))

    @staticmethod
    async def put_phone_code(conn: aiosqlite.Connection, person_id: int, code: PhoneCode) -> None:
        """Store (replace) the pending phone code inside the caller's transaction."""
        await conn.execute(
            "INSERT INTO phone_codes (person_id, phone, code_hash, sent_at, expires_at, tries_left,"
            " sends_in_window, window_start_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (person_id) DO UPDATE SET phone = excluded.phone, code_hash = excluded.code_hash,"
            " sent_at = excluded.sent_at, expires_at = excluded.expires_at, tries_left = excluded.tries_left,"
            " sends_in_window = excluded.sends_in_window, window_start_at = excluded.window_start_at",
            (person_id, code.phone, code.code_hash, code.sent_at_s, code.expires_at_s, code.tries_left,
             code.sends_in_window, code.window_start_at_s),
        )

    async def use_phone_try(self, person_id: int) -> None:
        """Count one wrong code."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE phone_codes SET tries_left = CASE WHEN tries_left > 0 THEN tries_left - 1 ELSE 0 END WHERE person_id = ?", (person_id,)
            )

    @staticmethod
    async def consume_phone_code(conn: aiosqlite.Connection, person_id: int) -> None:
        """Invalidate the code once used (keeps the resend window by expiring it)."""
        await conn.execute(
            "UPDATE phone_codes SET tries_left = 0, expires_at = 0 WHERE person_id = ?", (person_id,)
        )
