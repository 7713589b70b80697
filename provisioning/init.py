"""``campuspass init``: a new server data directory with keys, trust bundle and database."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from server.config import DEFAULT_SERVER_TOML, load_server_config
from server.datadir import DataDir, DataDirError, root_pub_text, write_atomic
from shared.clock import Clock, SystemClock, to_unix
from shared.keys import generate_key, save_private_key
from shared.trust import issue_certificate, make_bundle

# A first certificate starts a little in the past so a node whose clock lags still accepts it.
CERT_BACKDATE_S = 3600


@dataclass(frozen=True)
class InitResult:
    """What ``init`` made: the data directory, the first issuer key id and the first admin
    (username and one-time password, shown once; None when no admin was asked for)."""

    datadir: DataDir
    issuer_key_id: int
    admin_number: str | None = None
    admin_password: str | None = None


def init_data_dir(path: Path, clock: Clock | None = None, *, admin: str | None = "admin") -> InitResult:
    """Create a data directory: root key, issuer key 1 and its certificate, trust bundle v1,
    default ``server.toml``, a migrated database and the first system admin ``admin`` with a
    one-time password (None: no admin). Key files are mode 0600, folders 0700.

    Raises:
        DataDirError: the directory already holds a campuspass installation (never overwritten).
    """
    clock = clock or SystemClock()
    dd = DataDir(path)
    if dd.is_initialised() or (dd.keys_dir.exists() and any(dd.keys_dir.iterdir())):
        raise DataDirError(f"{path} already holds a campuspass data directory; refusing to overwrite it")
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    dd.keys_dir.mkdir(mode=0o700, exist_ok=True)
    dd.trust_dir.mkdir(mode=0o755, exist_ok=True)
    if not dd.config_path.exists():
        write_atomic(dd.config_path, DEFAULT_SERVER_TOML, 0o600)
    config = load_server_config(dd.config_path)

    now = clock.now()
    root = generate_key()
    save_private_key(root, dd.root_key_path)
    write_atomic(dd.root_pub_path, root_pub_text(root))

    issuer = generate_key()
    key_id = 1
    save_private_key(issuer, dd.issuer_key_path(key_id))
    valid_from = to_unix(now) - CERT_BACKDATE_S
    valid_until = to_unix(now + timedelta(days=config.keys.issuer_valid_days))
    cert = issue_certificate(root, key_id, issuer.public_key(), valid_from, valid_until)
    dd.write_trust_bundle(make_bundle(root, 1, to_unix(now), [cert]))
    dd.write_signing_schedule({key_id: valid_from})

    one_time = asyncio.run(_create_database(dd, clock, admin))
    return InitResult(dd, key_id, admin if one_time else None, one_time)


async def _create_database(dd: DataDir, clock: Clock, admin: str | None) -> str | None:
    from server.accounts import Accounts
    from server.passwords import PasswordHasher

    db = await dd.open_database()
    try:
        if admin is None:
            return None
        accounts = Accounts(db, clock, PasswordHasher(), load_server_config(dd.config_path))
        _person, one_time = await accounts.create_admin(admin, actor="init")
        return one_time
    finally:
        await db.close()


def describe(result: InitResult, now: datetime) -> str:
    """Human summary printed by ``campuspass init``."""
    dd = result.datadir
    return (
        f"initialised {dd.root}\n"
        f"  root public key (pin this on door nodes): {dd.root_pub_path}\n"
        f"  trust bundle v1 with issuer key {result.issuer_key_id}: {dd.bundle_path}\n"
        f"  database: {dd.db_path}\n"
        f"  root private key: {dd.root_key_path} (move it offline: see docs/keys.md)\n"
    ) + (
        f"  first admin: {result.admin_number}  one-time password: {result.admin_password}\n"
        "  (shown only now; it must be changed at the first login)\n"
        if result.admin_password else ""
    )
