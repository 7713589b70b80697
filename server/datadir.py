"""The server's data directory: paths, keys and the trust bundle.

Layout (made by ``campuspass init``)::

    DATA/server.toml          configuration
    DATA/campuspass.db        SQLite database
    DATA/keys/root.key        root private key (0600; may be kept offline instead)
    DATA/keys/issuer-0001.key issuer private keys (0600)
    DATA/trust/root.pub       root public key, base64url (what nodes pin)
    DATA/trust/bundle.json    current trust bundle, signed by the root
    DATA/trust/signing.json   when each issuer key starts signing
    DATA/sms-outbox.jsonl     the file SMS gateway's outbox
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from server.storage import Database, open_database
from shared.errors import CampusPassError
from shared.keys import Ed25519PrivateKey, b64u_decode, b64u_encode, load_private_key, public_key_bytes
from shared.trust import TrustBundle

T = TypeVar("T")


class DataDirError(CampusPassError):
    """The data directory is missing, incomplete or already initialised. Code ``data_dir``."""

    code = "data_dir"


@dataclass(frozen=True)
class Signer:
    """The issuer key that signs now: its id and private key."""

    key_id: int
    key: Ed25519PrivateKey


class DataDir:
    """Paths inside a server data directory, and loaders for what lives there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # parsed files keyed by path, valid while the file's (inode, mtime, size) is unchanged:
        # every writer replaces files atomically (new inode), so a change is always seen
        self._cache: dict[tuple[Path, ...], tuple[tuple[int, ...], object]] = {}

    def _cached(self, paths: tuple[Path, ...], load: Callable[[], T]) -> T:
        """``load()``, remembered while none of ``paths`` has been replaced or changed."""
        stamp: tuple[int, ...] = ()
        for path in paths:
            st = path.stat()
            stamp += (st.st_ino, st.st_mtime_ns, st.st_size)
        hit = self._cache.get(paths)
        if hit is not None and hit[0] == stamp:
            return hit[1]  # type: ignore[return-value]
        value = load()
        self._cache[paths] = (stamp, value)
        return value

    @property
    def config_path(self) -> Path:
        return self.root / "server.toml"

    @property
    def db_path(self) -> Path:
        return self.root / "campuspass.db"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def trust_dir(self) -> Path:
        return self.root / "trust"

    @property
    def root_key_path(self) -> Path:
        return self.keys_dir / "root.key"

    @property
    def root_pub_path(self) -> Path:
        return self.trust_dir / "root.pub"

    @property
    def bundle_path(self) -> Path:
        return self.trust_dir / "bundle.json"

    @property
    def signing_path(self) -> Path:
        return self.trust_dir / "signing.json"

    @property
    def sms_outbox_path(self) -> Path:
        return self.root / "sms-outbox.jsonl"

    def issuer_key_path(self, key_id: int) -> Path:
        return self.keys_dir / f"issuer-{key_id:04d}.key"

    def is_initialised(self) -> bool:
        """True when the directory holds a trust bundle or a database."""
        return self.bundle_path.exists() or self.db_path.exists()

    def require_initialised(self) -> None:
        """Raises DataDirError when ``campuspass init`` has not been run here."""
        if not self.is_initialised():
            raise DataDirError(
                f"{self.root} is not a campuspass data directory; run: campuspass init --data {self.root}"
            )

    @asynccontextmanager
    async def database(self) -> AsyncIterator[Database]:
        """The directory's database, opened and migrated, closed on exit.

        Raises:
            DataDirError: ``campuspass init`` has not been run here.
            StorageError: the database cannot be opened or migrated.
        """
        self.require_initialised()
        db = await self.open_database()
        try:
            yield db
        finally:
            await db.close()

    async def open_database(self, *, migrate: bool = True) -> Database:
        """Open (and by default migrate) the directory's database: ``[database] url`` of its
        ``server.toml`` (PostgreSQL), or the SQLite file :attr:`db_path` when that is empty.

        Raises:
            ConfigError: ``server.toml`` is invalid.
            StorageError: the database cannot be opened or migrated.
        """
        from server.config import load_server_config

        return await open_database(load_server_config(self.config_path).database.url, self.db_path,
                                   migrate=migrate)

    def root_public(self) -> bytes:
        """The pinned root public key (32 bytes)."""
        self.require_initialised()
        return b64u_decode(self.root_pub_path.read_text(encoding="ascii").strip())

    def root_private(self) -> Ed25519PrivateKey:
        """The root private key.

        Raises:
            DataDirError: the root key is kept offline (not in ``keys/``).
        """
        if not self.root_key_path.exists():
            raise DataDirError(
                "the root key is not on this server (kept offline); sign on the offline machine",
                code="root_offline",
            )
        return load_private_key(self.root_key_path)

    def trust_bundle(self) -> TrustBundle:
        """The current trust bundle, verified against ``trust/root.pub`` (parsed once per file
        version: cached until ``bundle.json`` or ``root.pub`` is replaced)."""
        self.require_initialised()
        return self._cached(
            (self.bundle_path, self.root_pub_path),
            lambda: TrustBundle.load(self.bundle_path.read_text(encoding="utf-8"), self.root_public()),
        )

    def write_trust_bundle(self, bundle: TrustBundle) -> None:
        """Replace ``trust/bundle.json`` atomically."""
        write_atomic(self.bundle_path, bundle.dumps())

    def signing_schedule(self) -> dict[int, int]:
        """``{key_id: signing_from_unix_s}`` for every issuer key held here."""
        if not self.signing_path.exists():
            return {}
        doc = json.loads(self.signing_path.read_text(encoding="utf-8"))
        return {int(k): int(v) for k, v in doc.get("signing_from", {}).items()}

    def write_signing_schedule(self, schedule: dict[int, int]) -> None:
        """Replace ``trust/signing.json``."""
        doc = {"signing_from": {str(k): v for k, v in sorted(schedule.items())}}
        write_atomic(self.signing_path, json.dumps(doc, indent=1))

    def current_signer(self, now: datetime) -> Signer:
        """The issuer key to sign with at ``now``: the newest key whose signing time has come,
        whose certificate is valid now, and whose private key is here.

        Raises:
            DataDirError: code ``no_issuer_key`` when no key qualifies.
        """
        now_s = int(now.timestamp())
        bundle = self.trust_bundle()
        certs = {c.key_id: c for c in bundle.issuers}
        for key_id, start in sorted(self.signing_schedule().items(), reverse=True):
            cert = certs.get(key_id)
            path = self.issuer_key_path(key_id)
            if start <= now_s and cert is not None and cert.valid_at(now_s) and path.exists():
                key = self._cached((path,), functools.partial(load_private_key, path))
                if public_key_bytes(key) != cert.public_key:
                    raise DataDirError(f"issuer key {key_id} does not match its certificate", code="bad_key")
                return Signer(key_id, key)
        raise DataDirError(
            "no issuer key can sign now; rotate: campuspass provision rotate-issuer", code="no_issuer_key"
        )


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` through a temporary file and rename (no torn files)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def root_pub_text(key: Ed25519PrivateKey) -> str:
    """The ``root.pub`` file content for a root key."""
    return b64u_encode(public_key_bytes(key)) + "\n"
