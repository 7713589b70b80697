"""Node bundles: the folder a door node starts from (layout in :mod:`edge.bundle`).

The server side gathers the documents a new node needs (:func:`server_documents`: pinned root
key, current trust bundle, a signed revocation delta since 0, the signed building policy); the
same documents travel in the enrolment reply (:meth:`ServerDocuments.to_json`). Either way
:func:`write_node_bundle` writes ``node.toml`` from :class:`edge.config.NodeConfig`, the node key
(mode 0600, folder 0700) and the documents, then checks the result the way ``campuspass edge
check-config`` does.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from edge.bundle import BundleError, check_bundle, write_bundle
from edge.config import BundleFiles, NodeConfig, NodeIdentity, check_server_url, load_node_config
from server.datadir import DataDir
from server.passes import signed_revocation_delta
from server.policy import signed_policy_document
from server.storage import Database
from server.storage.buildings import Buildings
from server.storage.passes import Passes
from shared.clock import to_unix
from shared.errors import CampusPassError
from shared.keys import Ed25519PrivateKey, b64u_decode, b64u_encode
from shared.policy import parse_policy_document
from shared.trust import TrustBundle

Direction = Literal["entry", "exit"]


@dataclass(frozen=True)
class ServerDocuments:
    """What the server hands a new node.

    Attributes:
        root_public: the root public key to pin, 32 bytes.
        trust_bundle: the current trust bundle (verified against ``root_public``).
        revocations: signed revocation delta since version 0 (``shared.revocation.make_delta``).
        policy: signed building policy document (``shared.policy.make_policy_document``).
        server_time_s: the server's time when it gathered them, Unix seconds.
    """

    root_public: bytes
    trust_bundle: TrustBundle
    revocations: dict[str, Any]
    policy: dict[str, Any]
    server_time_s: int

    def to_json(self) -> dict[str, Any]:
        """``{"root_public": b64url, "trust_bundle": {...}, "revocations": {...}, "policy": {...},
        "server_time_s": int}``."""
        return {
            "root_public": b64u_encode(self.root_public),
            "trust_bundle": self.trust_bundle.to_json(),
            "revocations": self.revocations,
            "policy": self.policy,
            "server_time_s": self.server_time_s,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], pinned_root: bytes | None = None) -> ServerDocuments:
        """Parse :meth:`to_json` output; the trust bundle must verify with its root key, and the root
        key must equal ``pinned_root`` when one is given (checked out of band).

        Raises:
            BundleError: a field is missing or of the wrong type, or the root key is not the pinned one.
            TrustError, DocumentError: the trust bundle does not verify.
        """
        try:
            root = b64u_decode(str(doc["root_public"]))
            bundle_doc, revocations, policy = doc["trust_bundle"], doc["revocations"], doc["policy"]
            server_time_s = int(doc["server_time_s"])
        except (KeyError, TypeError, ValueError, CampusPassError) as exc:
            raise BundleError(f"the server's documents are incomplete: {exc!r}") from None
        if not all(isinstance(d, dict) for d in (bundle_doc, revocations, policy)):
            raise BundleError("trust_bundle, revocations and policy must be JSON objects")
        if len(root) != 32:
            raise BundleError(f"root_public is {len(root)} bytes; expected 32")
        if pinned_root is not None and root != pinned_root:
            raise BundleError(
                f"the server offers root key {b64u_encode(root)}, not the expected {b64u_encode(pinned_root)}",
                code="root_mismatch")
        return cls(root, TrustBundle.load(bundle_doc, root), revocations, policy, server_time_s)


async def server_documents(datadir: DataDir, db: Database, now: datetime) -> ServerDocuments:
    """Gather the documents for a new node at ``now``.

    Raises:
        DataDirError: not a data directory, or no issuer key can sign now.
    """
    now_s = to_unix(now)
    signer = datadir.current_signer(now)
    return ServerDocuments(
        root_public=datadir.root_public(),
        trust_bundle=datadir.trust_bundle(),
        revocations=await signed_revocation_delta(datadir, Passes(db), 0, now),
        policy=await signed_policy_document(Buildings(db), signer.key, signer.key_id, now_s),
        server_time_s=now_s,
    )


def require_building(docs: ServerDocuments, building: str) -> None:
    """Check that the policy names ``building`` (a node elsewhere could not decide).

    Raises:
        CampusPassError: code ``unknown_building`` (the message lists the known codes).
    """
    parse_policy_document(docs.policy).for_building(building)


def require_safe_url(server_url: str, allow_plain_http: bool) -> None:
    """Refuse a plain ``http://`` server URL to another machine unless explicitly allowed.

    Raises:
        BundleError: code ``plain_http`` (the message says how to deploy behind TLS or allow it).
    """
    if allow_plain_http:
        return
    try:
        check_server_url(server_url)
    except ValueError as exc:
        raise BundleError(str(exc), code="plain_http") from None


def node_config(
    node_id: str, *, building: str, direction: Direction, name: str = "", server_url: str = "",
    template: NodeConfig | None = None, allow_plain_http: bool = False,
) -> NodeConfig:
    """The ``node.toml`` of a new node: its identity, every other table from ``template``
    (default: the defaults of :class:`edge.config.NodeConfig`, i.e. a Raspberry Pi with picamera2)
    and the standard bundle file names.

    Raises:
        ValueError: a bad node id, building or server URL (from :class:`NodeIdentity`; plain
            ``http://`` to another machine unless ``allow_plain_http``).
    """
    data_dir = template.node.data_dir if template is not None else "data"
    identity = NodeIdentity(id=node_id, building=building, name=name, direction=direction,
                            data_dir=data_dir, server_url=server_url.rstrip("/"),
                            allow_plain_http=allow_plain_http)
    if template is None:
        return NodeConfig(node=identity)
    return replace(template, node=identity, files=BundleFiles())


def ensure_empty_target(out: Path) -> None:
    """Refuse a folder that already holds a bundle (a node key is never overwritten).

    Raises:
        BundleError: code ``bundle_exists``.
    """
    files = BundleFiles()
    for name in ("node.toml", files.node_key):
        if (out / name).exists():
            raise BundleError(f"{out / name} already exists; choose a new folder (keys are never overwritten)",
                              code="bundle_exists")


def write_node_bundle(out: Path, config: NodeConfig, key: Ed25519PrivateKey, docs: ServerDocuments) -> list[str]:
    """Write the bundle into ``out`` (created with mode 0700) and check it; returns the summary
    lines of :func:`edge.bundle.check_bundle`. If the check fails, the files written are removed.

    Raises:
        BundleError: code ``bundle_exists`` when ``out`` already holds a bundle.
        CampusPassError: the written bundle does not verify (e.g. ``unknown_building``).
    """
    ensure_empty_target(out)
    created = not out.exists()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    files = config.files
    written = [out / n for n in (files.root_pub, files.node_key, files.trust_bundle, files.revocations,
                                 files.policy, "node.toml")]
    try:
        path = write_bundle(out, config, docs.root_public, key, docs.trust_bundle, docs.revocations, docs.policy)
        for p in written:
            if p.name != files.node_key:
                os.chmod(p, 0o644)
        return check_bundle(load_node_config(path))
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for p in written:
                p.unlink(missing_ok=True)
        raise
