"""One exception tree for campuspass.

Every error carries a stable machine ``code`` (snake_case, part of the API contract) and a
message that shows the bad value and what was expected. Library exceptions are translated
at the adapter boundary (``raise CampusPassError(...) from exc``).
"""

from __future__ import annotations


class CampusPassError(Exception):
    """Base of every campuspass error.

    Attributes:
        code: stable machine code, e.g. ``"bad_signature"``.
        message: human-readable explanation naming the bad value and what was expected.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class PassFormatError(CampusPassError):
    """The text is not a well-formed campus pass.

    Codes: ``not_campus_pass`` (wrong or missing prefix: another system's QR code),
    ``unsupported_version`` (our prefix, a format version this reader does not know),
    ``malformed`` (our prefix and version, but the body is not a valid record).
    """

    code = "malformed"


class SignatureError(CampusPassError):
    """An Ed25519 signature does not verify (RFC 8032). Code ``bad_signature``."""

    code = "bad_signature"


class TrustError(CampusPassError):
    """Base of trust failures (root key, issuer certificates, trust bundle)."""

    code = "trust_error"


class UnknownKeyError(TrustError):
    """No issuer certificate with this key id is in the trust bundle. Code ``unknown_key``."""

    code = "unknown_key"


class CertificateNotValidError(TrustError):
    """The issuer certificate exists but is not valid at that time. Code ``issuer_not_valid``."""

    code = "issuer_not_valid"


class BundleSignatureError(TrustError):
    """A trust bundle (or a certificate in it) is not signed by the pinned root key.

    Code ``bundle_not_trusted``.
    """

    code = "bundle_not_trusted"


class DocumentError(CampusPassError):
    """A signed JSON document (trust bundle, revocation list, policy) is malformed.

    Code ``bad_document``.
    """

    code = "bad_document"


class ConfigError(CampusPassError):
    """A configuration file is invalid: unknown key, wrong type or value. Code ``bad_config``."""

    code = "bad_config"


class WireFormatError(CampusPassError):
    """A sync message does not match the node ↔ server contract (:mod:`shared.sync_contract`,
    docs/sync-protocol.md). The message names the member, the bad value and what was expected.

    Codes: ``invalid_field`` (the request body or its heartbeat: a member unknown, missing or of
    a wrong type or range), ``bad_record`` (a scan record of the batch, named by its index),
    ``batch_too_large`` (more records than the server takes in one request), ``bad_answer``
    (a sync answer, read by the node).
    """

    code = "invalid_field"
