"""The door decision, table-driven: one row per reason code, in check order."""

from __future__ import annotations

from dataclasses import replace
from datetime import time

import pytest

from shared.clock import from_unix
from shared.decision import Reason, decide
from shared.pass_format import PassStatus, sign_pass
from shared.policy import BuildingPolicy
from shared.revocation import RevocationEntry, RevocationSet
from tests.shared.helpers import CERT_UNTIL, GREEN, ISSUER, NOON, bundle, make_text

LIB = BuildingPolicy("LIB", 3, hours=((time(7, 0), time(23, 0)),))
ARRIVAL_DESK = BuildingPolicy("DESK", 3, frozenset({PassStatus.GREEN, PassStatus.BLACK}))
TRUST = bundle()
HOUR = 3600


def revoked_serial() -> RevocationSet:
    rs = RevocationSet()
    rs.add(RevocationEntry(1, NOON + 86_400, serial=GREEN.serial))
    return rs


def revoked_subject(before: int) -> RevocationSet:
    rs = RevocationSet()
    rs.add(RevocationEntry(2, NOON + 86_400, subject=GREEN.subject, before_s=before))
    return rs


def tampered() -> str:
    text = make_text()
    i = 30
    return text[:i] + ("0" if text[i] != "0" else "1") + text[i + 1:]


CASES = [
    # name, text, revoked, policy, now, fresh, reason
    ("foreign", "HC1:6BFOXN*TS0BI$ZD4N9", RevocationSet(), LIB, NOON, True, Reason.NOT_CAMPUS_PASS),
    ("future version", "CP9:ABC", RevocationSet(), LIB, NOON, True, Reason.UNSUPPORTED_VERSION),
    ("damaged", make_text()[:-3], RevocationSet(), LIB, NOON, True, Reason.MALFORMED),
    ("unknown key", make_text(key_id=2), RevocationSet(), LIB, NOON, True, Reason.UNKNOWN_KEY),
    ("issuer expired", make_text(valid_until_s=CERT_UNTIL + 10), RevocationSet(), LIB, CERT_UNTIL + 1, True,
     Reason.ISSUER_NOT_VALID),
    ("tampered", tampered(), RevocationSet(), LIB, NOON, True, Reason.BAD_SIGNATURE),
    ("too early", make_text(), RevocationSet(), LIB, NOON - 121, True, Reason.NOT_YET_VALID),
    ("within leeway", make_text(), RevocationSet(), LIB, NOON - 120, True, Reason.ACCEPTED),
    ("expired", make_text(), RevocationSet(), LIB, NOON + 86_400, True, Reason.EXPIRED),
    ("stale revocations", make_text(), RevocationSet(), LIB, NOON, False, Reason.STALE_TRUST),
    ("revoked serial", make_text(), revoked_serial(), LIB, NOON, True, Reason.REVOKED),
    ("revoked subject", make_text(), revoked_subject(NOON + 1), LIB, NOON, True, Reason.REVOKED),
    ("subject revoked before reissue", make_text(), revoked_subject(NOON), LIB, NOON, True, Reason.ACCEPTED),
    ("black", make_text(status=PassStatus.BLACK), RevocationSet(), LIB, NOON, True, Reason.NOT_CLEARED),
    ("black at arrival desk", make_text(status=PassStatus.BLACK), RevocationSet(), ARRIVAL_DESK, NOON, True,
     Reason.ACCEPTED),
    ("other building group", make_text(scope=(4, 5)), RevocationSet(), LIB, NOON, True, Reason.OUT_OF_SCOPE),
    ("campus-wide scope", make_text(scope=(0,)), RevocationSet(), LIB, NOON, True, Reason.ACCEPTED),
    ("closed at 23:30", make_text(), RevocationSet(), LIB, NOON + 11 * HOUR + 1800, True, Reason.OUTSIDE_HOURS),
    ("accepted", make_text(), RevocationSet(), LIB, NOON, True, Reason.ACCEPTED),
]


@pytest.mark.parametrize(("name", "text", "revoked", "policy", "now", "fresh", "reason"), CASES,
                         ids=[c[0] for c in CASES])
def test_decision_table(name: str, text: str, revoked: RevocationSet, policy: BuildingPolicy, now: int,
                        fresh: bool, reason: Reason) -> None:
    verdict = decide(text, TRUST, revoked, policy, from_unix(now), revocations_fresh=fresh)
    assert verdict.reason is reason
    assert verdict.accepted is (reason is Reason.ACCEPTED)


def test_every_reason_code_is_covered_by_the_table() -> None:
    assert {c[-1] for c in CASES} == set(Reason)


def test_fields_are_returned_only_after_the_signature_verified() -> None:
    assert decide(tampered(), TRUST, RevocationSet(), LIB, from_unix(NOON)).fields is None
    assert decide(make_text(), TRUST, RevocationSet(), LIB, from_unix(NOON)).fields == GREEN


def test_overnight_hours_span_midnight() -> None:
    dorm = BuildingPolicy("D7", 3, hours=((time(22, 0), time(6, 0)),))
    text = sign_pass(replace(GREEN, valid_until_s=NOON + 2 * 86_400), ISSUER)
    assert decide(text, TRUST, RevocationSet(), dorm, from_unix(NOON + 11 * HOUR)).accepted  # 23:00
    assert decide(text, TRUST, RevocationSet(), dorm, from_unix(NOON + 17 * HOUR)).accepted  # 05:00
    assert not decide(text, TRUST, RevocationSet(), dorm, from_unix(NOON + 20 * HOUR)).accepted  # 08:00
