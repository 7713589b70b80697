"""The door decision (docs/architecture.md §6): one pure function, used offline by the door node and
online by the server.

Checks run in a fixed order; the first that fails gives the verdict's single reason code:

==================  ===========================================================
reason              meaning
==================  ===========================================================
not_campus_pass     the text is not ours (another system's QR code, a URL, junk)
unsupported_version our prefix with a format version this reader does not know
malformed           our prefix and version, but the record is damaged
unknown_key         the issuer key id is not in the trust bundle
issuer_not_valid    the issuer certificate is not valid at this time
bad_signature       the Ed25519 signature does not verify (tampered or forged)
not_yet_valid       now < valid_from − leeway
expired             now ≥ valid_until
stale_trust         the revocation list is older than the node's stale-after bound
revoked             the serial or the subject is on the revocation list
not_cleared         status not admitted here (a black pass: see your counsellor)
out_of_scope        the pass's building groups do not include this building
outside_hours       the building is closed at this time
accepted            every check passed
==================  ===========================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from shared.errors import CertificateNotValidError, PassFormatError, SignatureError, UnknownKeyError
from shared.pass_format import ALL_GROUPS, PassFields, decode_pass, verify_pass_signature
from shared.policy import BuildingPolicy
from shared.revocation import RevocationSet
from shared.trust import TrustBundle

DEFAULT_LEEWAY_S = 120


class Reason(enum.StrEnum):
    """The closed set of decision reason codes, in check order."""

    NOT_CAMPUS_PASS = "not_campus_pass"
    UNSUPPORTED_VERSION = "unsupported_version"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    ISSUER_NOT_VALID = "issuer_not_valid"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    STALE_TRUST = "stale_trust"
    REVOKED = "revoked"
    NOT_CLEARED = "not_cleared"
    OUT_OF_SCOPE = "out_of_scope"
    OUTSIDE_HOURS = "outside_hours"
    ACCEPTED = "accepted"


_FORMAT_REASONS = {
    "not_campus_pass": Reason.NOT_CAMPUS_PASS,
    "unsupported_version": Reason.UNSUPPORTED_VERSION,
    "malformed": Reason.MALFORMED,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one decision.

    Attributes:
        accepted: True only for reason ``accepted``.
        reason: exactly one reason code.
        fields: the pass fields when the signature verified (else None: unverified fields
            must not be shown or trusted).
    """

    accepted: bool
    reason: Reason
    fields: PassFields | None = None

    def as_json(self) -> dict[str, object]:
        """``{"verdict": "accept"|"deny", "reason": ..., "pass": {...}|None}``."""
        return {
            "verdict": "accept" if self.accepted else "deny",
            "reason": self.reason.value,
            "pass": self.fields.as_json() if self.fields is not None else None,
        }


def _deny(reason: Reason, fields: PassFields | None = None) -> Verdict:
    return Verdict(False, reason, fields)


def decide(
    text: str,
    trust: TrustBundle,
    revoked: RevocationSet,
    policy: BuildingPolicy,
    now: datetime,
    *,
    revocations_fresh: bool = True,
    leeway_s: int = DEFAULT_LEEWAY_S,
) -> Verdict:
    """Decide whether ``text`` (decoded QR content) opens the door governed by ``policy``.

    Args:
        text: the QR code's text.
        trust: the verified trust bundle (issuer keys).
        revoked: the revocation set known to this verifier.
        policy: the building's policy (group, admitted statuses, hours). Group 0 means
            "any building": the scope check is skipped (used for online checks).
        now: trusted current time, aware.
        revocations_fresh: False when the revocation data is older than the verifier's
            stale-after bound; such a verifier cannot rule out revocation and denies.
        leeway_s: tolerated clock difference for ``valid_from`` (seconds).

    Returns:
        A :class:`Verdict` with exactly one reason. Never raises for any ``text``.
    """
    try:
        signed = decode_pass(text)
    except PassFormatError as exc:
        return _deny(_FORMAT_REASONS.get(exc.code, Reason.MALFORMED))
    f = signed.fields
    now_s = int(now.timestamp())
    try:
        key = trust.issuer_key(f.key_id, now_s)
    except UnknownKeyError:
        return _deny(Reason.UNKNOWN_KEY)
    except CertificateNotValidError:
        return _deny(Reason.ISSUER_NOT_VALID)
    try:
        verify_pass_signature(signed, key)
    except SignatureError:
        return _deny(Reason.BAD_SIGNATURE)
    if now_s < f.valid_from_s - leeway_s:
        return _deny(Reason.NOT_YET_VALID, f)
    if now_s >= f.valid_until_s:
        return _deny(Reason.EXPIRED, f)
    if not revocations_fresh:
        return _deny(Reason.STALE_TRUST, f)
    if revoked.is_revoked(f):
        return _deny(Reason.REVOKED, f)
    if f.status not in policy.allowed_statuses:
        return _deny(Reason.NOT_CLEARED, f)
    if policy.group != ALL_GROUPS and ALL_GROUPS not in f.scope and policy.group not in f.scope:
        return _deny(Reason.OUT_OF_SCOPE, f)
    if not policy.open_at(now):
        return _deny(Reason.OUTSIDE_HOURS, f)
    return Verdict(True, Reason.ACCEPTED, f)
