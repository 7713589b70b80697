"""The node bundle: the folder provisioning writes and ``campuspass edge run`` reads.

Layout (file names configurable in ``[files]`` of ``node.toml``; defaults shown)::

    node.toml           edge.config.NodeConfig (strict TOML)
    root.pub            pinned root public key, unpadded base64url + newline
                        (same format as the server's DATA/trust/root.pub)
    node.key            the node's Ed25519 private key, PKCS#8 PEM, mode 0600
    trust-bundle.json   shared.trust.TrustBundle JSON, signed by the root
    revocations.json    signed revocation delta (shared.revocation.make_delta), since 0
    policy.json         signed policy document (shared.policy.make_policy_document)

On first start the node seeds its SQLite database from these files (:meth:`NodeStore.seed`);
later the sync component keeps the database current and the files are not read again.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import NodeConfig, dump_node_config
from shared.errors import CampusPassError
from shared.keys import Ed25519PrivateKey, b64u_decode, b64u_encode, load_private_key, save_private_key
from shared.trust import TrustBundle


class BundleError(CampusPassError):
    """A bundle file is missing or unreadable. Code ``bad_bundle``."""

    code = "bad_bundle"


@dataclass(frozen=True)
class BundleDocs:
    """The parsed (not yet verified) bundle documents.

    Attributes:
        root_public: the pinned root key, 32 bytes.
        trust_bundle, revocations, policy: JSON objects as read.
    """

    root_public: bytes
    trust_bundle: dict[str, Any]
    revocations: dict[str, Any]
    policy: dict[str, Any]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"bundle file {path} does not exist") from None
    except ValueError as exc:
        raise BundleError(f"bundle file {path} is not JSON: {exc}") from None
    except OSError as exc:
        raise BundleError(f"bundle file {path} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(doc, dict):
        raise BundleError(f"bundle file {path} holds {type(doc).__name__}; expected a JSON object")
    return doc


def read_root_public(path: Path) -> bytes:
    """The 32-byte root key from a ``root.pub`` file.

    Raises:
        BundleError: missing or unreadable file, or not 32 bytes of base64url.
    """
    try:
        raw = b64u_decode(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise BundleError(f"bundle file {path} does not exist") from None
    except (CampusPassError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not a base64url public key") from exc
    except OSError as exc:
        raise BundleError(f"bundle file {path} cannot be read: {exc.strerror or exc}") from None
    if len(raw) != 32:
        raise BundleError(f"{path} holds {len(raw)} bytes; expected a 32-byte Ed25519 public key")
    return raw


def read_bundle(config: NodeConfig) -> BundleDocs:
    """Read the bundle files named in ``config.files``.

    Raises:
        BundleError: a file is missing or not of its format.
    """
    files = config.files
    return BundleDocs(
        root_public=read_root_public(config.path(files.root_pub)),
        trust_bundle=_read_json(config.path(files.trust_bundle)),
        revocations=_read_json(config.path(files.revocations)),
        policy=_read_json(config.path(files.policy)),
    )


def load_node_key(config: NodeConfig) -> Ed25519PrivateKey:
    """The node's own signing key (``node.key``).

    Raises:
        BundleError: the file is missing or cannot be read.
        CampusPassError: code ``bad_key`` when not an Ed25519 PEM key.
    """
    path = config.path(config.files.node_key)
    if not path.exists():
        raise BundleError(f"node key {path} does not exist")
    try:
        return load_private_key(path)
    except OSError as exc:
        raise BundleError(f"node key {path} cannot be read: {exc.strerror or exc}") from None


def check_node_key_mode(config: NodeConfig) -> None:
    """Refuse a ``node.key`` that group or others may read or write (it must be mode 0600).

    Raises:
        BundleError: code ``key_permissions``, naming the file and its mode.
    """
    path = config.path(config.files.node_key)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise BundleError(f"node key {path} does not exist") from None
    except OSError as exc:
        raise BundleError(f"node key {path} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"node key {path} cannot be read: not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise BundleError(
            f"node key {path} has mode {mode:04o}; other users can read it. Run: chmod 600 {path}",
            code="key_permissions",
        )


def write_bundle(
    folder: Path,
    config: NodeConfig,
    root_public: bytes,
    node_key: Ed25519PrivateKey,
    trust_bundle: TrustBundle,
    revocations: dict[str, Any],
    policy: dict[str, Any],
) -> Path:
    """Write a complete node bundle into ``folder`` (created); returns the ``node.toml`` path.

    Raises:
        FileExistsError: ``node.key`` already exists there (keys are never overwritten).
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = config.files
    (folder / files.root_pub).write_text(b64u_encode(root_public) + "\n", encoding="ascii")
    save_private_key(node_key, folder / files.node_key)
    (folder / files.trust_bundle).write_text(trust_bundle.dumps(), encoding="utf-8")
    (folder / files.revocations).write_text(json.dumps(revocations, indent=1), encoding="utf-8")
    (folder / files.policy).write_text(json.dumps(policy, indent=1), encoding="utf-8")
    path = folder / "node.toml"
    path.write_text(dump_node_config(config), encoding="utf-8")
    return path


def check_bundle(config: NodeConfig) -> list[str]:
    """Verify the bundle files the way the node will when it seeds; returns summary lines.

    Raises:
        BundleError: a file is missing or unreadable; code ``key_permissions`` when
            ``node.key`` is readable by group or others.
        DocumentError, TrustError, SignatureError: a document does not verify.
        CampusPassError: code ``unknown_building`` when the policy lacks ``node.building``.
    """
    from shared.policy import verify_policy_document
    from shared.revocation import verify_delta
    from shared.signed_doc import require

    docs = read_bundle(config)
    bundle = TrustBundle.load(docs.trust_bundle, docs.root_public)
    delta = verify_delta(docs.revocations, bundle, require(docs.revocations, "issued_at", int, "revocations"))
    policies = verify_policy_document(docs.policy, bundle, require(docs.policy, "issued_at", int, "policy"))
    policy = policies.for_building(config.node.building)
    check_node_key_mode(config)
    load_node_key(config)
    return [
        f"root key {b64u_encode(docs.root_public)}",
        f"trust bundle v{bundle.version}: issuer keys {[c.key_id for c in bundle.issuers]}",
        f"revocations v{delta.version} ({len(delta.entries)} entries), signed at {delta.issued_at_s}",
        f"policy v{policies.version}: building {policy.building} in group {policy.group}",
    ]
