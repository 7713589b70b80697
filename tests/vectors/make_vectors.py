"""Regenerate ``pass-v1.json``: golden vectors for the pass format and the door decision.

Run ``python tests/vectors/make_vectors.py`` only when the format changes on purpose; the
test ``tests/shared/test_vectors.py`` checks our implementation against the stored file.
Keys come from fixed seeds, and Ed25519 signatures are deterministic (RFC 8032), so the
output is byte-for-byte reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.keys import b64u_encode, private_key_from_seed, public_key_bytes
from shared.pass_format import PassFields, PassStatus, sign_pass
from shared.revocation import RevocationEntry, make_delta
from shared.trust import issue_certificate, make_bundle

ROOT_SEED = bytes(range(32))
ISSUER_SEED = bytes(range(32, 64))
KEY_ID = 7
CERT_FROM = 1767225600  # 2026-01-01T00:00:00Z
CERT_UNTIL = 1798761600  # 2027-01-01T00:00:00Z
VALID_FROM = 1780200000  # 2026-05-31T04:00:00Z (12:00 Asia/Shanghai)
VALID_UNTIL = 1780286400  # 2026-06-01T04:00:00Z (next day's 12:00 deadline)


def build() -> dict[str, object]:
    root = private_key_from_seed(ROOT_SEED)
    issuer = private_key_from_seed(ISSUER_SEED)
    cert = issue_certificate(root, KEY_ID, issuer.public_key(), CERT_FROM, CERT_UNTIL)
    bundle = make_bundle(root, 1, CERT_FROM, [cert])

    def fields(**kw: object) -> PassFields:
        base: dict[str, object] = dict(
            key_id=KEY_ID,
            serial=bytes.fromhex("0102030405060708"),
            subject=bytes.fromhex("a1a2a3a4a5a6a7a8"),
            status=PassStatus.GREEN,
            scope=(3,),
            valid_from_s=VALID_FROM,
            valid_until_s=VALID_UNTIL,
            visitor=False,
        )
        base.update(kw)
        return PassFields(**base)  # type: ignore[arg-type]

    green = fields()
    black = fields(serial=bytes.fromhex("1112131415161718"), status=PassStatus.BLACK)
    campus = fields(serial=bytes.fromhex("2122232425262728"), scope=(0,))
    three = fields(serial=bytes.fromhex("3132333435363738"), scope=(3, 4, 65535))
    visitor = fields(serial=bytes.fromhex("4142434445464748"), visitor=True, scope=(4,))
    revoked_delta = make_delta(
        issuer, KEY_ID, 0, 1, VALID_FROM,
        [RevocationEntry(1, VALID_UNTIL, serial=bytes.fromhex("5152535455565758"))],
    )
    revoked = fields(serial=bytes.fromhex("5152535455565758"))
    green_text = sign_pass(green, issuer)
    tampered = green_text[:20] + ("B" if green_text[20] != "B" else "C") + green_text[21:]
    unknown_key_text = sign_pass(fields(key_id=8), issuer)

    policy = {"building": "LIB", "group": 3, "allowed_statuses": ["green"], "hours": ["07:00-23:00"]}
    at_noon = VALID_FROM + 3600  # 13:00 local, open
    cases = [
        ("green pass at its building", green_text, green, at_noon, "accept", "accepted"),
        ("black pass", sign_pass(black, issuer), black, at_noon, "deny", "not_cleared"),
        ("campus-wide scope (group 0)", sign_pass(campus, issuer), campus, at_noon, "accept", "accepted"),
        ("three scopes, largest group id", sign_pass(three, issuer), three, at_noon, "accept", "accepted"),
        ("visitor pass for another group", sign_pass(visitor, issuer), visitor, at_noon, "deny", "out_of_scope"),
        ("revoked serial", sign_pass(revoked, issuer), revoked, at_noon, "deny", "revoked"),
        ("expired at the deadline", green_text, green, VALID_UNTIL, "deny", "expired"),
        ("before valid_from minus leeway", green_text, green, VALID_FROM - 121, "deny", "not_yet_valid"),
        ("outside opening hours (23:30 local)", green_text, green, VALID_FROM + 41400, "deny", "outside_hours"),
        ("one character changed", tampered, None, at_noon, "deny", "bad_signature"),
        ("key id not in bundle", unknown_key_text, None, at_noon, "deny", "unknown_key"),
        ("format version 2", "CP2:" + green_text[4:], None, at_noon, "deny", "unsupported_version"),
        ("foreign code (EU DCC prefix)", "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH", None, at_noon, "deny", "not_campus_pass"),
        ("truncated", green_text[:60], None, at_noon, "deny", "malformed"),
    ]
    return {
        "description": "campuspass pass format v1 golden vectors; see docs/pass-format.md",
        "root_seed": ROOT_SEED.hex(),
        "root_public_key": b64u_encode(public_key_bytes(root)),
        "issuer_seed": ISSUER_SEED.hex(),
        "issuer_public_key": b64u_encode(public_key_bytes(issuer)),
        "key_id": KEY_ID,
        "trust_bundle": bundle.to_json(),
        "revocation_delta": revoked_delta,
        "policy": policy,
        "cases": [
            {
                "name": name,
                "text": text,
                "fields": f.as_json() if f is not None else None,
                "now": now,
                "verdict": verdict,
                "reason": reason,
            }
            for name, text, f, now, verdict, reason in cases
        ],
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("pass-v1.json")
    out.write_text(json.dumps(build(), indent=1, ensure_ascii=True) + "\n", encoding="ascii")
    print(f"wrote {out}")
