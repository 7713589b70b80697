"""Trust: the root key, issuer key certificates and the trust bundle (docs/architecture.md §5).

The root key signs issuer certificates and the trust bundle that lists them. A verifier
(door node, server) pins the root public key and accepts issuer keys only from a bundle that
verifies with it. Rotation: a new issuer certificate is published (its ``valid_from`` may be
earlier than the moment the server starts signing with it) and the old one stays in the
bundle until every pass it signed has expired (its ``valid_until``).

JSON shapes (times are Unix seconds, keys unpadded base64url)::

    certificate = {"key_id": 1, "public_key": "...", "valid_from": 1764000000,
                   "valid_until": 1795536000, "signature": "..."}
    bundle      = {"version": 3, "issued_at": 1764000000, "root_key": "...",
                   "issuers": [certificate, ...], "signature": "..."}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.errors import (
    BundleSignatureError,
    CampusPassError,
    CertificateNotValidError,
    DocumentError,
    SignatureError,
    UnknownKeyError,
)
from shared.keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    b64u_decode,
    b64u_encode,
    public_key_bytes,
    public_key_from_bytes,
)
from shared.signed_doc import require, sign_document, verify_document

CERT_DOMAIN = "issuer-certificate/v1"
BUNDLE_DOMAIN = "trust-bundle/v1"


@dataclass(frozen=True, slots=True)
class IssuerCertificate:
    """An issuer key certified by the root key.

    Attributes:
        key_id: 0..65535, carried in every pass this key signs.
        public_key: 32 raw bytes.
        valid_from_s, valid_until_s: Unix seconds; passes are verified with this key only
            while the verification time is in ``[valid_from_s, valid_until_s)``.
        signature: the root's signature over the certificate (64 bytes).
    """

    key_id: int
    public_key: bytes
    valid_from_s: int
    valid_until_s: int
    signature: bytes

    def body(self) -> dict[str, Any]:
        """The JSON object without its signature."""
        return {
            "key_id": self.key_id,
            "public_key": b64u_encode(self.public_key),
            "valid_from": self.valid_from_s,
            "valid_until": self.valid_until_s,
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON object with its signature."""
        return {**self.body(), "signature": b64u_encode(self.signature)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> IssuerCertificate:
        """Parse a certificate object (signature not checked here).

        Raises:
            DocumentError: a member is missing or of the wrong type.
        """
        try:
            cert = cls(
                key_id=require(doc, "key_id", int, "issuer certificate"),
                public_key=b64u_decode(require(doc, "public_key", str, "issuer certificate")),
                valid_from_s=require(doc, "valid_from", int, "issuer certificate"),
                valid_until_s=require(doc, "valid_until", int, "issuer certificate"),
                signature=b64u_decode(require(doc, "signature", str, "issuer certificate")),
            )
        except CampusPassError as exc:
            raise DocumentError(f"issuer certificate: {exc.message}") from exc
        if len(cert.public_key) != 32 or not 0 <= cert.key_id <= 0xFFFF:
            raise DocumentError(f"issuer certificate {cert.key_id}: bad key id or key length")
        return cert

    def valid_at(self, unix_s: int) -> bool:
        """True when ``unix_s`` is within ``[valid_from_s, valid_until_s)``."""
        return self.valid_from_s <= unix_s < self.valid_until_s


def issue_certificate(
    root: Ed25519PrivateKey,
    key_id: int,
    issuer_public: Ed25519PublicKey | bytes,
    valid_from_s: int,
    valid_until_s: int,
) -> IssuerCertificate:
    """Certify an issuer public key with the root key.

    Raises:
        ValueError: ``key_id`` out of range or an empty validity window.
    """
    if not 0 <= key_id <= 0xFFFF:
        raise ValueError(f"key id {key_id}; expected 0..65535")
    if valid_from_s >= valid_until_s:
        raise ValueError(f"validity {valid_from_s}..{valid_until_s} is empty")
    raw = issuer_public if isinstance(issuer_public, bytes) else public_key_bytes(issuer_public)
    body = {
        "key_id": key_id,
        "public_key": b64u_encode(raw),
        "valid_from": valid_from_s,
        "valid_until": valid_until_s,
    }
    signed = sign_document(CERT_DOMAIN, body, root)
    return IssuerCertificate.from_json(signed)


@dataclass(frozen=True)
class TrustBundle:
    """A root-signed set of issuer certificates, verified against a pinned root key.

    Build one with :meth:`load` (verifies) or :func:`make_bundle` (signs). Lookups are
    dictionary reads; the public key objects are parsed once.
    """

    version: int
    issued_at_s: int
    root_key: bytes
    issuers: tuple[IssuerCertificate, ...]
    signature: bytes
    _keys: dict[int, tuple[IssuerCertificate, Ed25519PublicKey]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for cert in self.issuers:
            self._keys[cert.key_id] = (cert, public_key_from_bytes(cert.public_key))

    def to_json(self) -> dict[str, Any]:
        """The bundle as a JSON object, signature included."""
        return {
            "version": self.version,
            "issued_at": self.issued_at_s,
            "root_key": b64u_encode(self.root_key),
            "issuers": [c.to_json() for c in self.issuers],
            "signature": b64u_encode(self.signature),
        }

    def dumps(self) -> str:
        """The bundle as JSON text (for files and HTTP bodies)."""
        return json.dumps(self.to_json(), indent=1, sort_keys=True)

    @classmethod
    def load(cls, doc: dict[str, Any] | str | bytes, pinned_root: Ed25519PublicKey | bytes) -> TrustBundle:
        """Parse and verify a bundle against the pinned root public key.

        Raises:
            DocumentError: not a JSON object of the bundle's shape.
            BundleSignatureError: the bundle or one of its certificates is not signed by the
                pinned root (or names another root).
        """
        if isinstance(doc, (str, bytes)):
            try:
                doc = json.loads(doc)
            except ValueError as exc:
                raise DocumentError(f"trust bundle is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise DocumentError(f"trust bundle is {type(doc).__name__}; expected a JSON object")
        root_raw = pinned_root if isinstance(pinned_root, bytes) else public_key_bytes(pinned_root)
        root = public_key_from_bytes(root_raw)
        try:
            version = require(doc, "version", int, "trust bundle")
            issued_at = require(doc, "issued_at", int, "trust bundle")
            named_root = b64u_decode(require(doc, "root_key", str, "trust bundle"))
            certs_json = require(doc, "issuers", list, "trust bundle")
            signature = b64u_decode(require(doc, "signature", str, "trust bundle"))
        except CampusPassError as exc:
            raise DocumentError(f"trust bundle: {exc.message}") from exc
        if named_root != root_raw:
            raise BundleSignatureError("trust bundle names another root key than the pinned one")
        try:
            verify_document(BUNDLE_DOMAIN, doc, root)
        except SignatureError as exc:
            raise BundleSignatureError("trust bundle is not signed by the pinned root key") from exc
        certs = []
        for item in certs_json:
            cert = IssuerCertificate.from_json(item)
            try:
                verify_document(CERT_DOMAIN, item, root)
            except SignatureError as exc:
                raise BundleSignatureError(
                    f"issuer certificate {cert.key_id} is not signed by the pinned root key"
                ) from exc
            certs.append(cert)
        return cls(version, issued_at, root_raw, tuple(certs), signature)

    def issuer_key(self, key_id: int, at_s: int) -> Ed25519PublicKey:
        """The issuer public key for ``key_id``, valid at Unix time ``at_s``.

        Raises:
            UnknownKeyError: no certificate with this key id in the bundle.
            CertificateNotValidError: the certificate is not valid at ``at_s``.
        """
        entry = self._keys.get(key_id)
        if entry is None:
            raise UnknownKeyError(f"issuer key id {key_id} is not in trust bundle v{self.version}")
        cert, key = entry
        if not cert.valid_at(at_s):
            raise CertificateNotValidError(
                f"issuer key {key_id} is valid {cert.valid_from_s}..{cert.valid_until_s}, not at {at_s}"
            )
        return key


def make_bundle(
    root: Ed25519PrivateKey, version: int, issued_at_s: int, issuers: list[IssuerCertificate]
) -> TrustBundle:
    """Sign a trust bundle listing ``issuers`` with the root key."""
    body = {
        "version": version,
        "issued_at": issued_at_s,
        "root_key": b64u_encode(public_key_bytes(root)),
        "issuers": [c.to_json() for c in issuers],
    }
    signed = sign_document(BUNDLE_DOMAIN, body, root)
    return TrustBundle.load(signed, root.public_key())
