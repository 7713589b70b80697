"""Starting on a damaged or missing node database (docs/edge-node.md, "Damaged or missing
database").

At start the node checks its database (``PRAGMA quick_check``, or the full
``integrity_check`` when the last scheduled check found damage). A database that is empty
(0 bytes), not SQLite, fails the check, cannot be read, or is missing although this data
folder held one before, is never deleted and never silently re-seeded: the files are moved
aside under a dated name (``node.db.damaged-20261205T031500Z``, with its ``-wal`` and
``-shm``), a fresh database is seeded from the provisioning bundle, and it starts a new
**chain epoch** so the server tells the new chain from the old one and records what was lost.

The data folder remembers the epoch in use in ``chain-epoch`` (one line). A new epoch number is
``max(last + 1, Unix seconds now)``: increasing even when ``chain-epoch`` was lost with the
database.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.store import NodeStore, StoreError, file_size

log = logging.getLogger(__name__)

EPOCH_FILE = "chain-epoch"
DAMAGE_FLAG_SUFFIX = ".check-failed"


@dataclass(frozen=True, slots=True)
class Recovery:
    """What happened at start.

    Attributes:
        reason: ``damaged`` (the check or reading failed), ``empty`` (0 bytes) or ``missing``.
        detail: the check's or SQLite's words.
        moved_to: where the old files went (empty for ``missing``).
        epoch: the chain epoch the new database starts.
    """

    reason: str
    detail: str
    moved_to: tuple[Path, ...]
    epoch: int


def read_epoch(data_dir: Path) -> int | None:
    """The chain epoch recorded in ``data_dir`` (None: never recorded or unreadable)."""
    try:
        return int((data_dir / EPOCH_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def write_epoch(data_dir: Path, epoch: int) -> None:
    """Record the chain epoch in use (atomically: temporary file, fsync, rename)."""
    tmp = data_dir / (EPOCH_FILE + ".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{epoch}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, data_dir / EPOCH_FILE)


def damage_flag(db_path: Path) -> Path:
    """The file the scheduled integrity check leaves when it finds damage (checked at start)."""
    return db_path.with_name(db_path.name + DAMAGE_FLAG_SUFFIX)


def move_aside(db_path: Path, now: datetime) -> tuple[Path, ...]:
    """Rename ``db_path`` and its ``-wal``/``-shm`` to ``<name>.damaged-<UTC time>[-wal|-shm]``.

    Returns the new paths. Raises ``OSError`` when a rename fails.
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    n = 1
    while base.exists():
        n += 1
        base = db_path.with_name(f"{db_path.name}.damaged-{stamp}-{n}")
    moved = []
    for suffix in ("", "-wal", "-shm"):
        src = db_path.with_name(db_path.name + suffix)
        if src.exists():
            dst = base.with_name(base.name + suffix)
            os.replace(src, dst)
            moved.append(dst)
    return tuple(moved)


def next_epoch(data_dir: Path, now: datetime) -> int:
    """``max(recorded + 1, Unix seconds of now)`` (see the module docstring)."""
    last = read_epoch(data_dir) or 0
    return max(last + 1, int(now.timestamp()))


async def open_checked(db_path: Path, root_public: bytes, now: datetime, **open_kwargs: object
                       ) -> tuple[NodeStore, Recovery | None]:
    """Open the node database, recovering from damage as the module docstring says.

    The caller seeds the returned store when it is not seeded, then calls
    :meth:`NodeStore.start_epoch` and :func:`write_epoch` with ``recovery.epoch`` when a
    recovery happened (and :func:`write_epoch` with 0 on a first start).

    Raises:
        StoreError: anything but damage (``bad_database``: the folder cannot be used;
            ``root_mismatch``; ``newer_database``).
        OSError: the damaged files cannot be moved aside.
    """
    data_dir = db_path.parent
    flag = damage_flag(db_path)
    reason, detail = "", ""
    if file_size(db_path) is None and read_epoch(data_dir) is not None:
        reason, detail = "missing", f"{db_path.name} is gone from a data folder that held one"
    else:
        check = "full" if file_size(flag) is not None else "quick"
        try:
            store = await NodeStore.open(db_path, root_public, check=check, **open_kwargs)  # type: ignore[arg-type]
        except StoreError as exc:
            if exc.code != "damaged_database":
                raise
            reason = "empty" if file_size(db_path) == 0 else "damaged"
            detail = exc.message
        else:
            flag.unlink(missing_ok=True)
            return store, None
    moved = move_aside(db_path, now) if reason != "missing" else ()
    flag.unlink(missing_ok=True)
    epoch = next_epoch(data_dir, now)
    log.error("node database %s: %s (%s); %s; a new database starts chain epoch %d",
              reason, db_path, detail,
              f"kept as {moved[0].name}" if moved else "nothing to keep", epoch)
    store = await NodeStore.open(db_path, root_public, **open_kwargs)  # type: ignore[arg-type]
    return store, Recovery(reason, detail, moved, epoch)
