"""``campuspass edge verify-log``: check a node database's integrity and its scan log's hash chain,
read-only (docs/edge-node.md, "Checking the log").

The database is opened read-only (``mode=ro``: nothing is migrated, repaired, moved or written),
so it can be run next to a running node, on a copy, or on a database kept aside after damage
(``node.db.damaged-...``). What is checked:

* SQLite's ``PRAGMA integrity_check`` of the whole file;
* the chain of the scan log (:func:`shared.scanlog.verify_chain`): every record's hash over its
  canonical bytes, every ``prev_hash`` link, and no missing sequence number, starting after the
  last record removed by retention (``purged_seq``/``purged_hash``) or at genesis.

Not detectable here: records cut off at the *end* of the log leave an intact chain; the server
notices them (it holds what was uploaded, and records gaps).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from edge.store import _SCAN_COLUMNS, _row_to_record
from shared.scanlog import GENESIS_HASH, ChainBreak, verify_chain


@dataclass(frozen=True)
class LogReport:
    """What :func:`verify_log` found.

    Attributes:
        path: the database checked.
        integrity: SQLite's complaints (empty: intact).
        records: scan records present.
        first_seq, last_seq: lowest and highest sequence number present (0 when none).
        epoch: the chain epoch of this database (0: the node's first database).
        earlier_epochs: databases kept aside after damage next to this one (earlier epochs).
        breaks: chain breaks (:class:`ChainBreak`: ``gap``, ``bad_link``, ``bad_hash``).
        error: why the log could not be read at all (empty: it was read).
    """

    path: Path
    integrity: list[str] = field(default_factory=list)
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    epoch: int = 0
    earlier_epochs: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the file is intact and the chain holds."""
        return not (self.error or self.integrity or self.breaks)

    def gaps(self) -> int:
        """Missing runs of sequence numbers."""
        return sum(1 for b in self.breaks if b.kind == "gap")

    def summary(self) -> str:
        """The one-line summary ``verify-log`` prints."""
        if self.error:
            found = f"; integrity FAILED ({'; '.join(self.integrity[:2])})" if self.integrity else ""
            return f"{self.path}: BROKEN: {self.error}{found}"
        altered = sum(1 for b in self.breaks if b.kind != "gap")
        word = "OK" if self.ok else "BROKEN"
        first = ", ".join(f"{b.kind} at seq {b.seq}" for b in self.breaks[:3])
        more = f" ({first}{', ...' if len(self.breaks) > 3 else ''})" if self.breaks else ""
        integrity = "ok" if not self.integrity else f"FAILED ({'; '.join(self.integrity[:2])})"
        return (f"{self.path}: {word}: {self.records} records, seq {self.first_seq}..{self.last_seq}, "
                f"epoch {self.epoch} (+{self.earlier_epochs} earlier kept aside), {self.gaps()} gaps, "
                f"{altered} altered{more}, integrity {integrity}")


def verify_log(db_path: Path) -> LogReport:
    """Check the node database at ``db_path`` read-only (see the module docstring).

    Never raises for a bad file: an unreadable, empty, missing or non-SQLite file gives a report
    whose ``error`` says why.
    """
    earlier = sum(1 for p in db_path.parent.glob(db_path.name + ".damaged-*")
                  if not p.name.endswith(("-wal", "-shm")))
    if not db_path.is_file():
        return LogReport(db_path, earlier_epochs=earlier, error="no database file")
    if db_path.stat().st_size == 0:
        return LogReport(db_path, earlier_epochs=earlier, error="the file is empty (0 bytes)")
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return LogReport(db_path, earlier_epochs=earlier, error=f"cannot open: {exc}")
    try:
        try:
            integrity = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as exc:
            integrity = [str(exc)]
        problems = [] if integrity == ["ok"] else integrity
        try:
            return _verify(conn, db_path, earlier, problems)
        except sqlite3.DatabaseError as exc:
            return LogReport(db_path, problems, earlier_epochs=earlier, error=f"cannot read the log: {exc}")
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection, db_path: Path, earlier: int, problems: list[str]) -> LogReport:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    epoch = int(meta.get("chain_epoch", 0))
    prev_seq = int(meta.get("purged_seq", 0))
    prev_hash = str(meta.get("purged_hash", GENESIS_HASH))
    breaks: list[ChainBreak] = []
    records, first, last = 0, 0, 0
    cur = conn.execute(f"SELECT {_SCAN_COLUMNS} FROM scans ORDER BY seq")
    while batch := cur.fetchmany(1000):
        docs = [_row_to_record(row, epoch).to_json() for row in batch]
        breaks.extend(verify_chain(docs, prev_hash, prev_seq))
        records += len(docs)
        first = first or int(docs[0]["seq"])
        last = int(docs[-1]["seq"])
        prev_hash, prev_seq = docs[-1]["hash"], last
    return LogReport(db_path, problems, records, first, last, epoch, earlier, breaks)
