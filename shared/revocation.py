"""The revocation list (docs/architecture.md §5): revoked pass serials and subjects, versioned, signed.

Each entry is added at a list version and expires when the pass it targets would have
expired anyway. Two kinds:

* ``{"v": 7, "serial": "<16 hex>", "expires": 1764900000}``: one pass.
* ``{"v": 8, "subject": "<16 hex>", "before": 1764800000, "expires": 1764900000}``: every
  pass of that subject whose ``valid_from`` is earlier than ``before``.

A delta document carries the entries added after version ``since`` up to ``version``,
signed by an issuer key from the trust bundle (domain ``revocation-delta/v1``)::

    {"version": 8, "since": 6, "issued_at": 1764800000, "key_id": 1,
     "entries": [...], "signature": "..."}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.errors import CampusPassError, DocumentError, SignatureError
from shared.keys import Ed25519PrivateKey
from shared.pass_format import PassFields
from shared.signed_doc import require, sign_document, verify_document
from shared.trust import TrustBundle

DELTA_DOMAIN = "revocation-delta/v1"


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    """One revocation: a serial, or a subject with a ``before`` time (Unix seconds)."""

    version: int
    expires_s: int
    serial: bytes | None = None
    subject: bytes | None = None
    before_s: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        if self.serial is not None:
            return {"v": self.version, "serial": self.serial.hex(), "expires": self.expires_s}
        assert self.subject is not None and self.before_s is not None
        return {
            "v": self.version,
            "subject": self.subject.hex(),
            "before": self.before_s,
            "expires": self.expires_s,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RevocationEntry:
        """Parse an entry.

        Raises:
            DocumentError: wrong shape or hex.
        """
        version = require(doc, "v", int, "revocation entry")
        expires = require(doc, "expires", int, "revocation entry")
        try:
            if "serial" in doc:
                serial = bytes.fromhex(require(doc, "serial", str, "revocation entry"))
                if len(serial) != 8:
                    raise ValueError("serial must be 8 bytes")
                return cls(version, expires, serial=serial)
            subject = bytes.fromhex(require(doc, "subject", str, "revocation entry"))
            if len(subject) != 8:
                raise ValueError("subject must be 8 bytes")
            before = require(doc, "before", int, "revocation entry")
            return cls(version, expires, subject=subject, before_s=before)
        except ValueError as exc:
            raise DocumentError(f"revocation entry {doc!r}: {exc}") from None


@dataclass
class RevocationSet:
    """The revoked passes a verifier knows, at list ``version``.

    Lookups are two dictionary reads, cheap enough for every frame.
    """

    version: int = 0
    serials: dict[bytes, int] = field(default_factory=dict)
    subjects: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    def add(self, entry: RevocationEntry) -> None:
        """Apply one entry (idempotent); ``version`` rises to the entry's version."""
        if entry.serial is not None:
            self.serials[entry.serial] = max(entry.expires_s, self.serials.get(entry.serial, 0))
        elif entry.subject is not None and entry.before_s is not None:
            before, expires = self.subjects.get(entry.subject, (0, 0))
            self.subjects[entry.subject] = (max(before, entry.before_s), max(expires, entry.expires_s))
        self.version = max(self.version, entry.version)

    def is_revoked(self, fields: PassFields) -> bool:
        """True when the pass's serial is listed, or its subject is listed with a later ``before``."""
        if fields.serial in self.serials:
            return True
        hit = self.subjects.get(fields.subject)
        return hit is not None and fields.valid_from_s < hit[0]

    def prune(self, now_s: int) -> int:
        """Drop entries that expired before ``now_s`` (Unix seconds); returns how many."""
        old = [s for s, exp in self.serials.items() if exp <= now_s]
        for s in old:
            del self.serials[s]
        old_subj = [s for s, (_, exp) in self.subjects.items() if exp <= now_s]
        for s in old_subj:
            del self.subjects[s]
        return len(old) + len(old_subj)

    def __len__(self) -> int:
        return len(self.serials) + len(self.subjects)


def make_delta(
    key: Ed25519PrivateKey,
    key_id: int,
    since: int,
    version: int,
    issued_at_s: int,
    entries: list[RevocationEntry],
) -> dict[str, Any]:
    """A signed delta document with ``entries`` (versions in ``(since, version]``)."""
    body = {
        "version": version,
        "since": since,
        "issued_at": issued_at_s,
        "key_id": key_id,
        "entries": [e.to_json() for e in entries],
    }
    return sign_document(DELTA_DOMAIN, body, key)


@dataclass(frozen=True, slots=True)
class RevocationDelta:
    """A verified delta: apply ``entries`` to a set at version ≥ ``since`` to reach ``version``."""

    version: int
    since: int
    issued_at_s: int
    entries: tuple[RevocationEntry, ...]


def verify_delta(doc: dict[str, Any], trust: TrustBundle, now_s: int) -> RevocationDelta:
    """Check a delta's signature with the issuer key it names and parse it.

    Raises:
        DocumentError: wrong shape.
        UnknownKeyError, CertificateNotValidError: the signing key is not trusted now.
        SignatureError: the signature does not verify.
    """
    try:
        key_id = require(doc, "key_id", int, "revocation delta")
        version = require(doc, "version", int, "revocation delta")
        since = require(doc, "since", int, "revocation delta")
        issued_at = require(doc, "issued_at", int, "revocation delta")
        raw_entries = require(doc, "entries", list, "revocation delta")
    except CampusPassError as exc:
        raise DocumentError(exc.message) from exc
    key = trust.issuer_key(key_id, now_s)
    try:
        verify_document(DELTA_DOMAIN, doc, key)
    except SignatureError as exc:
        raise SignatureError("revocation delta signature does not verify") from exc
    entries = tuple(RevocationEntry.from_json(e) for e in raw_entries)
    return RevocationDelta(version, since, issued_at, entries)
