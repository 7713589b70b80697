"""Test keys and passes built from fixed seeds (no files, no clock)."""

from __future__ import annotations

from dataclasses import replace

from shared.keys import private_key_from_seed
from shared.pass_format import PassFields, PassStatus, sign_pass
from shared.trust import TrustBundle, issue_certificate, make_bundle

ROOT = private_key_from_seed(b"\x01" * 32)
ISSUER = private_key_from_seed(b"\x02" * 32)
KEY_ID = 1
CERT_FROM = 1_767_225_600  # 2026-01-01T00:00:00Z
CERT_UNTIL = 1_798_761_600  # 2027-01-01T00:00:00Z
NOON = 1_780_200_000  # 2026-05-31 12:00 Asia/Shanghai


def bundle() -> TrustBundle:
    cert = issue_certificate(ROOT, KEY_ID, ISSUER.public_key(), CERT_FROM, CERT_UNTIL)
    return make_bundle(ROOT, 1, CERT_FROM, [cert])


GREEN = PassFields(
    key_id=KEY_ID,
    serial=bytes.fromhex("00112233445566ff"),
    subject=bytes.fromhex("abcdefabcdef0001"),
    status=PassStatus.GREEN,
    scope=(3,),
    valid_from_s=NOON,
    valid_until_s=NOON + 86_400,
)


def make_text(**changes: object) -> str:
    return sign_pass(replace(GREEN, **changes), ISSUER)  # type: ignore[arg-type]
