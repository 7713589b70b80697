"""The campus pass: a compact signed binary record, base45 text for a QR code.

See ``docs/pass-format.md`` for the normative description and ``tests/vectors/`` for golden
vectors. Text form: ``"CP1:" + base45(record || signature)`` (RFC 9285), all characters in
the QR alphanumeric set. Record (big-endian, format version 1)::

    offset size field
    0      1    version       = 1
    1      2    key_id        issuer key id (uint16)
    3      8    serial        random pass serial
    11     8    subject       random pseudonymous subject id (never the student number)
    19     1    status        0 = black, 1 = green
    20     1    flags         bit 0 = visitor pass; other bits 0
    21     4    valid_from    seconds since 1970-01-01T00:00:00Z (uint32)
    25     4    valid_until   seconds since 1970-01-01T00:00:00Z (uint32), > valid_from
    29     1    n_scope       number of scope entries, 1..3
    30     2*n  scope         building group ids (uint16); 0 = every building group
    30+2n  64   signature     Ed25519 (RFC 8032) over ASCII "CP1:" || record
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import datetime

from shared.base45 import Base45Error, b45decode, b45encode
from shared.clock import from_unix
from shared.errors import PassFormatError
from shared.keys import Ed25519PrivateKey, Ed25519PublicKey, sign, verify

FORMAT_VERSION = 1
PREFIX = "CP1:"
PREFIX_FAMILY = "CP"
SIGNATURE_BYTES = 64
MAX_SCOPES = 3
ALL_GROUPS = 0
FLAG_VISITOR = 0x01

_HEAD = struct.Struct(">BH8s8sBBIIB")  # 30 bytes
_MIN_LEN = _HEAD.size + 2 + SIGNATURE_BYTES
_MAX_LEN = _HEAD.size + 2 * MAX_SCOPES + SIGNATURE_BYTES


class PassStatus(enum.IntEnum):
    """Status carried in the pass. Black: approved, not yet arrived. Green: arrived, cleared."""

    BLACK = 0
    GREEN = 1


_STATUSES = (PassStatus.BLACK, PassStatus.GREEN)


@dataclass(frozen=True, slots=True)
class PassFields:
    """The fields of a pass (before signing or after decoding).

    Attributes:
        key_id: issuer key id (0..65535) naming the certificate in the trust bundle.
        serial: 8 random bytes; the unit of revocation and of repeat-scan dedup.
        subject: 8 random bytes; pseudonymous per person, never the student number.
        status: black or green.
        scope: 1..3 building group ids (0 = every group).
        valid_from_s, valid_until_s: Unix seconds (UTC), valid_from_s < valid_until_s.
        visitor: True for a temporary visitor pass.
        version: format version (1).
    """

    key_id: int
    serial: bytes
    subject: bytes
    status: PassStatus
    scope: tuple[int, ...]
    valid_from_s: int
    valid_until_s: int
    visitor: bool = False
    version: int = FORMAT_VERSION

    @property
    def valid_from(self) -> datetime:
        """``valid_from_s`` as an aware UTC datetime."""
        return from_unix(self.valid_from_s)

    @property
    def valid_until(self) -> datetime:
        """``valid_until_s`` as an aware UTC datetime."""
        return from_unix(self.valid_until_s)

    def as_json(self) -> dict[str, object]:
        """JSON-friendly fields (hex for bytes, ISO 8601 UTC for times)."""
        return {
            "version": self.version,
            "key_id": self.key_id,
            "serial": self.serial.hex(),
            "subject": self.subject.hex(),
            "status": self.status.name.lower(),
            "visitor": self.visitor,
            "scope": list(self.scope),
            "valid_from": self.valid_from.isoformat().replace("+00:00", "Z"),
            "valid_until": self.valid_until.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True)
class SignedPass:
    """A decoded pass: its fields, the signed bytes and the signature (not yet verified)."""

    fields: PassFields
    signed_bytes: bytes
    signature: bytes


def _check_fields(f: PassFields) -> None:
    if f.version != FORMAT_VERSION:
        raise PassFormatError(f"format version {f.version}; this writer only writes {FORMAT_VERSION}")
    if not 0 <= f.key_id <= 0xFFFF:
        raise PassFormatError(f"key id {f.key_id} out of range 0..65535")
    if len(f.serial) != 8 or len(f.subject) != 8:
        raise PassFormatError(
            f"serial/subject are {len(f.serial)}/{len(f.subject)} bytes; expected 8 each"
        )
    if not 1 <= len(f.scope) <= MAX_SCOPES or any(not 0 <= g <= 0xFFFF for g in f.scope):
        raise PassFormatError(f"scope {f.scope!r}; expected 1..{MAX_SCOPES} group ids 0..65535")
    if not 0 <= f.valid_from_s < f.valid_until_s <= 0xFFFFFFFF:
        raise PassFormatError(
            f"validity {f.valid_from_s}..{f.valid_until_s}; expected 0 ≤ from < until < 2^32"
        )


def record_bytes(fields: PassFields) -> bytes:
    """The binary record for ``fields`` (without prefix or signature).

    Raises:
        PassFormatError: a field is out of range (see the module docstring).
    """
    _check_fields(fields)
    head = _HEAD.pack(
        fields.version,
        fields.key_id,
        fields.serial,
        fields.subject,
        int(fields.status),
        FLAG_VISITOR if fields.visitor else 0,
        fields.valid_from_s,
        fields.valid_until_s,
        len(fields.scope),
    )
    return head + struct.pack(f">{len(fields.scope)}H", *fields.scope)


def sign_pass(fields: PassFields, key: Ed25519PrivateKey) -> str:
    """Sign ``fields`` with the issuer key and return the pass text ``"CP1:..."``.

    Raises:
        PassFormatError: a field is out of range.
    """
    record = record_bytes(fields)
    signature = sign(key, PREFIX.encode("ascii") + record)
    return PREFIX + b45encode(record + signature)


def decode_pass(text: str) -> SignedPass:
    """Parse pass text without checking the signature.

    Leading whitespace and trailing CR, LF, tab or NUL (scanner suffixes) are ignored. A
    trailing space is kept: space is a base45 character.

    Raises:
        PassFormatError: ``not_campus_pass`` for text without our prefix (another system's
            code, a URL, binary junk); ``unsupported_version`` for ``CP<n>:`` with n ≠ 1;
            ``malformed`` for anything else wrong in our own format.
    """
    if not isinstance(text, str):
        raise PassFormatError(f"pass is {type(text).__name__}; expected text", code="not_campus_pass")
    text = text.lstrip().rstrip("\r\n\t\x00")
    if not text.startswith(PREFIX):
        head, sep, _ = text.partition(":")
        if sep and head.startswith(PREFIX_FAMILY) and head[2:].isdigit() and len(head) <= 5:
            raise PassFormatError(
                f"pass format version {head[2:]} is not supported; this reader knows {FORMAT_VERSION}",
                code="unsupported_version",
            )
        raise PassFormatError("text does not start with 'CP1:'; not a campus pass", code="not_campus_pass")
    body = text[len(PREFIX):]
    try:
        raw = b45decode(body)
    except Base45Error as exc:
        raise PassFormatError(f"pass body is not base45: {exc}", code="malformed") from None
    n = len(raw)
    if n < _MIN_LEN or n > _MAX_LEN:
        raise PassFormatError(f"pass is {n} bytes; expected {_MIN_LEN}..{_MAX_LEN}", code="malformed")
    version, key_id, serial, subject, status, flags, vf, vu, n_scope = _HEAD.unpack_from(raw)
    if version != FORMAT_VERSION:
        raise PassFormatError(f"record version byte {version}; expected {FORMAT_VERSION}", code="malformed")
    if not 1 <= n_scope <= MAX_SCOPES or n != _HEAD.size + 2 * n_scope + SIGNATURE_BYTES:
        raise PassFormatError(f"scope count {n_scope} does not match length {n}", code="malformed")
    if status > 1 or flags & ~FLAG_VISITOR or vf >= vu:
        raise PassFormatError(
            f"status {status}, flags {flags:#x}, validity {vf}..{vu}: out of range", code="malformed"
        )
    split = _HEAD.size + 2 * n_scope
    scope = struct.unpack_from(f">{n_scope}H", raw, _HEAD.size)
    fields = PassFields(
        key_id=key_id,
        serial=serial,
        subject=subject,
        status=_STATUSES[status],
        scope=scope,
        valid_from_s=vf,
        valid_until_s=vu,
        visitor=bool(flags & FLAG_VISITOR),
        version=version,
    )
    return SignedPass(fields, PREFIX.encode("ascii") + raw[:split], raw[split:])


def verify_pass_signature(signed: SignedPass, key: Ed25519PublicKey) -> None:
    """Check the Ed25519 signature of a decoded pass.

    Raises:
        SignatureError: the signature does not verify with the issuer key.
    """
    verify(key, signed.signature, signed.signed_bytes)
