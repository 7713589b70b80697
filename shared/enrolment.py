"""The documents a new door node receives from the server when it is put into service
(docs/raspberry-pi.md): the root public key to pin, the current trust bundle, a signed revocation
delta since version 0, the signed building policy and the server's time. The enrolment reply
(``POST /api/v1/nodes/enroll``) carries them beside the node's identity, and a bundle made on the
server machine (``campuspass provision node``) holds the same documents as files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import CampusPassError, DocumentError
from shared.keys import b64u_decode, b64u_encode
from shared.trust import TrustBundle


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
            DocumentError: code ``incomplete_documents`` (a field is missing or of the wrong type)
                or ``root_mismatch`` (the root key is not the pinned one).
            TrustError, DocumentError: the trust bundle does not verify.
        """
        try:
            root = b64u_decode(str(doc["root_public"]))
            bundle_doc, revocations, policy = doc["trust_bundle"], doc["revocations"], doc["policy"]
            server_time_s = int(doc["server_time_s"])
        except (KeyError, TypeError, ValueError, CampusPassError) as exc:
            raise DocumentError(f"the server's documents are incomplete: {exc!r}", code="incomplete_documents") from None
        if not all(isinstance(d, dict) for d in (bundle_doc, revocations, policy)):
            raise DocumentError("trust_bundle, revocations and policy must be JSON objects", code="incomplete_documents")
        if len(root) != 32:
            raise DocumentError(f"root_public is {len(root)} bytes; expected 32", code="incomplete_documents")
        if pinned_root is not None and root != pinned_root:
            raise DocumentError(
                f"the server offers root key {b64u_encode(root)}, not the expected {b64u_encode(pinned_root)}",
                code="root_mismatch")
        return cls(root, TrustBundle.load(bundle_doc, root), revocations, policy, server_time_s)
