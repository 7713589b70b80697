"""The offline root: moving the root private key off the server and signing on another machine.

Procedure (``docs/keys.md``): ``export-root`` writes the root key to removable media and deletes
it from ``DATA/keys``; from then on ``rotate-issuer --offline-request`` writes a request, the
offline machine runs ``sign-request`` with the root key, and ``install-response`` publishes the
result on the server. Only the offline machine ever holds the root private key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provisioning.rotation import (
    RotationRequest,
    RotationResponse,
    read_json,
    sign_request,
    write_json_new,
)
from server.datadir import DataDir, DataDirError
from shared.keys import load_private_key, public_key_bytes


@dataclass(frozen=True)
class ExportResult:
    """Where the root key went and its public key (base64url, for checking against ``root.pub``)."""

    out: Path
    root_public: bytes


def export_root(dd: DataDir, out: Path) -> ExportResult:
    """Move the root private key from ``DATA/keys/root.key`` to ``out``.

    The copy is written to a new file with mode 0600, read back and checked against the pinned
    ``trust/root.pub`` before the key in the data directory is deleted.

    Raises:
        DataDirError: code ``root_offline`` when the key is already gone; code ``data_dir``
            when ``out`` exists or lies inside the data directory (backups would carry it).
    """
    dd.require_initialised()
    key = dd.root_private()
    if _inside(out, dd.root):
        raise DataDirError(f"{out} is inside the data directory; export the root key to removable media")
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DataDirError(f"{out} exists; refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(dd.root_key_path.read_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    copy = load_private_key(out)
    pinned = dd.root_public()
    if public_key_bytes(copy) != pinned or public_key_bytes(key) != pinned:
        out.unlink()
        raise DataDirError("the exported root key does not match trust/root.pub; nothing was deleted",
                           code="bad_key")
    dd.root_key_path.unlink()
    return ExportResult(out, pinned)


def sign_request_files(root_key: Path, request_path: Path, bundle_path: Path, out: Path) -> RotationResponse:
    """``campuspass provision sign-request`` on the offline machine: files in, response file out.

    Raises:
        RotationError: a file is missing or not JSON, or the request does not fit the bundle
            (see :func:`provisioning.rotation.sign_request`).
        CampusPassError: code ``bad_key`` when ``root_key`` is not an Ed25519 key.
        DataDirError: ``out`` exists.
    """
    root = load_private_key(root_key)
    request = RotationRequest.from_json(read_json(request_path, "request"))
    bundle_doc = read_json(bundle_path, "trust bundle")
    response = sign_request(root, request, bundle_doc)
    write_json_new(out, response.to_json(), 0o644)
    return response


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
