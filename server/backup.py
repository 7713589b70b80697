"""Backup and restore of a server data directory (``campuspass server backup`` / ``restore``).

A backup is one gzip-compressed tar file, mode 0600 (it holds private keys)::

    manifest.json       {"format": "campuspass-backup/v1", "created_at": 1764000000,
                         "files": {"keys/issuer-0001.key": {"sha256": "...", "mode": 384}, ...},
                         "tables": {"passes": 12, ...}}
    server.toml         and every other file at the top of the data directory (the SMS outbox)
    campuspass.db       consistent copy taken with SQLite's online backup API
    keys/...            issuer keys (and the root key unless it was exported)
    trust/...           root.pub, bundle.json, signing.json, a pending rotation request

The database copy is consistent while the server keeps running (see
:mod:`server.storage.backup`). Restore refuses a non-empty target, checks every file against
the manifest, checks the database (``PRAGMA integrity_check``) and the trust bundle against
the pinned root key before the new directory appears under its final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from server.datadir import DataDir, DataDirError
from server.storage import Database
from server.storage.backup import backup_database, integrity_check, table_row_counts
from shared.clock import to_unix
from shared.errors import CampusPassError

FORMAT = "campuspass-backup/v1"
MANIFEST = "manifest.json"
_FOLDERS = {"keys": 0o700, "trust": 0o755}


@dataclass(frozen=True)
class BackupResult:
    """What a backup holds: its file, creation time (Unix seconds), files and table row counts."""

    out: Path
    created_at_s: int
    files: tuple[str, ...]
    tables: dict[str, int]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _collect(dd: DataDir) -> dict[str, tuple[bytes, int]]:
    """``{relative path: (bytes, mode)}`` of the configuration, keys and trust files."""
    out: dict[str, tuple[bytes, int]] = {}
    skip = {dd.db_path.name, *(dd.db_path.name + s for s in ("-wal", "-shm", "-journal"))}
    for path in sorted(dd.root.iterdir()):
        if path.is_file() and path.name not in skip and not path.name.endswith(".tmp"):
            out[path.name] = (path.read_bytes(), 0o600)
    for folder in _FOLDERS:
        base = dd.root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.is_file() and not path.name.endswith(".tmp"):
                out[f"{folder}/{path.name}"] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return out


async def backup_data_dir(dd: DataDir, out: Path, now: datetime) -> BackupResult:
    """Write a backup of ``dd`` to the new file ``out`` (mode 0600). Safe while the server runs.

    Raises:
        DataDirError: ``dd`` is not a data directory or ``out`` exists.
        StorageError: the database cannot be read or copied.
    """
    work = _start_backup(dd, out)
    try:
        db_copy = work / "campuspass.db"
        db = await Database.open(dd.db_path, migrate=False)
        try:
            await backup_database(db, db_copy)
        finally:
            await db.close()
        snap = await Database.open(db_copy, migrate=False)
        try:
            tables = await table_row_counts(snap)
        finally:
            await snap.close()
        created_at = to_unix(now)
        names = _write_archive(dd, work, out, created_at, tables)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupResult(out, created_at, names, tables)


def _start_backup(dd: DataDir, out: Path) -> Path:
    """Checks before a backup; returns a private work folder next to ``out``."""
    dd.require_initialised()
    if out.exists():
        raise DataDirError(f"{out} exists; refusing to overwrite it")
    return Path(tempfile.mkdtemp(prefix=".campuspass-backup-", dir=out.parent))


def _write_archive(dd: DataDir, work: Path, out: Path, created_at: int, tables: dict[str, int]) -> tuple[str, ...]:
    """Build the tar.gz in ``work`` from the database copy there and the files of ``dd``, then link
    it to ``out``. Returns the archived file names."""
    files = _collect(dd)
    files["campuspass.db"] = ((work / "campuspass.db").read_bytes(), 0o600)
    manifest = {
        "format": FORMAT,
        "created_at": created_at,
        "files": {name: {"sha256": _sha256(data), "mode": mode} for name, (data, mode) in sorted(files.items())},
        "tables": tables,
    }
    part = work / "backup.tar.gz"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        _add(tar, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode(), 0o600, created_at)
        for folder, mode in _FOLDERS.items():
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, created_at
            tar.addfile(info)
        for name, (data, mode) in sorted(files.items()):
            _add(tar, name, data, mode, created_at)
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    try:
        os.link(part, out)  # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise DataDirError(f"{out} exists; refusing to overwrite it") from None
    return tuple(sorted(files))


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, mtime
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class RestoreResult:
    """A restored data directory, when its backup was made (Unix seconds) and its table row counts."""

    datadir: DataDir
    created_at_s: int
    tables: dict[str, int]


def _allowed(name: str) -> bool:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name != str(p):
        return False
    if len(p.parts) == 1:
        return name not in {".", ".."}
    return len(p.parts) == 2 and p.parts[0] in _FOLDERS


def _read_archive(archive: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the files of a backup, every file checked against the manifest.

    Raises:
        DataDirError: code ``bad_backup`` for anything that is not an intact campuspass backup.
    """
    def bad(why: str) -> DataDirError:
        return DataDirError(f"{archive.name} is not an intact campuspass backup: {why}", code="bad_backup")

    files: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar.getmembers():
                if not _allowed(member.name):
                    raise bad(f"unexpected member {member.name!r}")
                if member.isdir():
                    continue
                if member.name in _FOLDERS:
                    raise bad(f"member {member.name!r} must be a folder")
                if not member.isfile():
                    raise bad(f"member {member.name!r} is not a regular file")
                fh = tar.extractfile(member)
                if fh is None:
                    raise bad(f"member {member.name!r} cannot be read")
                files[member.name] = fh.read()
    except FileNotFoundError:
        raise DataDirError(f"backup file {archive} does not exist") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise bad(str(exc)) from None
    try:
        manifest = json.loads(files.pop(MANIFEST))
    except KeyError:
        raise bad("no manifest.json") from None
    except ValueError as exc:
        raise bad(f"manifest.json is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad(f"format is not {FORMAT!r}")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != set(files):
        raise bad("the files do not match the manifest")
    for name, data in files.items():
        if listed[name].get("sha256") != _sha256(data):
            raise bad(f"{name} does not match its checksum")
    if "campuspass.db" not in files:
        raise bad("no database")
    return manifest, files


async def restore_data_dir(archive: Path, target: Path) -> RestoreResult:
    """Restore a backup into ``target``, which must not exist or be an empty folder.

    The files are written to a temporary sibling folder, checked (database integrity, trust
    bundle against the pinned root), then renamed to ``target``.

    Raises:
        DataDirError: ``target`` is not empty; code ``bad_backup`` when the archive is damaged,
            not a campuspass backup, or its database or trust bundle do not check.
    """
    manifest, work = _stage(archive, target)
    try:
        staged = DataDir(work)
        db = await Database.open(staged.db_path, migrate=False)
        try:
            problems = await integrity_check(db)
            tables = await table_row_counts(db)
        finally:
            await db.close()
        if problems:
            raise DataDirError(f"restored database fails its integrity check: {problems[:3]}", code="bad_backup")
        _finish_restore(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RestoreResult(DataDir(target), int(manifest.get("created_at", 0)), tables)


def _stage(archive: Path, target: Path) -> tuple[dict[str, Any], Path]:
    """Check ``target`` is empty, read and check the archive, write its files into a private
    folder next to ``target``. Returns the manifest and that folder."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataDirError(f"{target} is not empty; restore into a new directory")
    manifest, files = _read_archive(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".campuspass-restore-", dir=target.parent))
    try:
        os.chmod(work, 0o700)
        for folder, mode in _FOLDERS.items():
            (work / folder).mkdir(mode=mode)
            os.chmod(work / folder, mode)
        for name, data in files.items():
            mode = int(manifest["files"][name].get("mode", 0o600)) & 0o777
            fd = os.open(work / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest, work


def _finish_restore(staged: DataDir, target: Path) -> None:
    """Check the staged trust bundle against its pinned root, then move the folder to ``target``."""
    try:
        staged.trust_bundle()
    except (CampusPassError, OSError, ValueError) as exc:
        raise DataDirError(f"restored trust bundle does not verify: {exc}", code="bad_backup") from exc
    if target.exists():
        target.rmdir()
    os.rename(staged.root, target)
