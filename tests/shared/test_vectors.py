"""Golden vectors (tests/vectors/pass-v1.json): our code must reproduce them exactly.

A second implementation (a mini-program, a guard's phone app) is checked against the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.campus_time import local
from shared.clock import from_unix
from shared.decision import decide
from shared.keys import b64u_encode, private_key_from_seed, public_key_bytes
from shared.pass_format import PassFields, PassStatus, decode_pass, sign_pass
from shared.policy import BuildingPolicy, parse_hours, parse_statuses
from shared.revocation import RevocationSet, verify_delta
from shared.trust import TrustBundle

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "pass-v1.json").read_text())
ISSUER = private_key_from_seed(bytes.fromhex(VECTORS["issuer_seed"]))
ROOT_PUB = public_key_bytes(private_key_from_seed(bytes.fromhex(VECTORS["root_seed"])))


def _fields(doc: dict[str, Any]) -> PassFields:
    def unix(iso: str) -> int:
        from datetime import datetime

        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())

    return PassFields(
        key_id=doc["key_id"],
        serial=bytes.fromhex(doc["serial"]),
        subject=bytes.fromhex(doc["subject"]),
        status=PassStatus[doc["status"].upper()],
        scope=tuple(doc["scope"]),
        valid_from_s=unix(doc["valid_from"]),
        valid_until_s=unix(doc["valid_until"]),
        visitor=doc["visitor"],
        version=doc["version"],
    )


def test_keys_match_their_seeds() -> None:
    assert b64u_encode(ROOT_PUB) == VECTORS["root_public_key"]
    assert b64u_encode(public_key_bytes(ISSUER)) == VECTORS["issuer_public_key"]


@pytest.mark.parametrize("case", [c for c in VECTORS["cases"] if c["fields"]], ids=lambda c: c["name"])
def test_fields_sign_to_the_exact_text(case: dict[str, Any]) -> None:
    fields = _fields(case["fields"])
    assert sign_pass(fields, ISSUER) == case["text"]
    assert decode_pass(case["text"]).fields == fields


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_verdicts(case: dict[str, Any]) -> None:
    trust = TrustBundle.load(VECTORS["trust_bundle"], ROOT_PUB)
    revoked = RevocationSet()
    for entry in verify_delta(VECTORS["revocation_delta"], trust, case["now"]).entries:
        revoked.add(entry)
    p = VECTORS["policy"]
    policy = BuildingPolicy(p["building"], p["group"], parse_statuses(p["allowed_statuses"]), parse_hours(p["hours"]))
    verdict = decide(case["text"], trust, revoked, policy, from_unix(case["now"]))
    assert (verdict.as_json()["verdict"], verdict.reason.value) == (case["verdict"], case["reason"]), (
        case["name"], local(from_unix(case["now"])).isoformat()
    )
