"""Property tests: no single-character change of a pass is accepted; junk and foreign codes are
denied as not ours / malformed and never raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.base45 import ALPHABET
from shared.clock import from_unix
from shared.decision import Reason, decide
from shared.policy import BuildingPolicy
from shared.revocation import RevocationSet
from shared.scanlog import ScanRecord, record_hash
from tests.conftest import CORPUS
from tests.shared.helpers import NOON, bundle, make_text

TRUST = bundle()
POLICY = BuildingPolicy("LIB", 3)
NOW = from_unix(NOON + 60)
TEXT = make_text()
NOT_OURS = {Reason.NOT_CAMPUS_PASS, Reason.MALFORMED, Reason.UNSUPPORTED_VERSION}


def test_the_unaltered_pass_is_accepted() -> None:
    assert decide(TEXT, TRUST, RevocationSet(), POLICY, NOW).accepted


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(TEXT) - 1), st.sampled_from(ALPHABET + "abc\x00é\n"))
def test_flipping_any_single_character_is_never_accepted(index: int, char: str) -> None:
    if TEXT[index] == char:
        return
    changed = TEXT[:index] + char + TEXT[index + 1:]
    verdict = decide(changed, TRUST, RevocationSet(), POLICY, NOW)
    assert not verdict.accepted


def test_every_single_character_flip_exhaustively() -> None:
    for index in range(len(TEXT)):
        for char in ALPHABET:
            if char != TEXT[index]:
                changed = TEXT[:index] + char + TEXT[index + 1:]
                assert not decide(changed, TRUST, RevocationSet(), POLICY, NOW).accepted, (index, char)


@given(st.text(max_size=300))
def test_arbitrary_strings_are_not_ours(text: str) -> None:
    verdict = decide(text, TRUST, RevocationSet(), POLICY, NOW)
    assert verdict.reason in NOT_OURS | {Reason.UNKNOWN_KEY, Reason.BAD_SIGNATURE}
    assert not verdict.accepted


@given(st.text(alphabet=ALPHABET, max_size=200))
def test_arbitrary_base45_behind_our_prefix_is_denied(body: str) -> None:
    verdict = decide("CP1:" + body, TRUST, RevocationSet(), POLICY, NOW)
    assert not verdict.accepted


def _foreign_texts() -> list[tuple[str, str]]:
    folder = CORPUS / "qr-foreign" / "expected"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "text" in doc:
            out.append((path.name, doc["text"]))
    return out


FOREIGN = _foreign_texts()


@pytest.mark.skipif(not FOREIGN, reason="../shared/corpus/qr-foreign is not beside the repository")
@pytest.mark.parametrize(("name", "text"), FOREIGN, ids=[n for n, _ in FOREIGN] or None)
def test_foreign_codes_are_not_campus_passes(name: str, text: str) -> None:
    verdict = decide(text, TRUST, RevocationSet(), POLICY, NOW)
    assert verdict.reason is Reason.NOT_CAMPUS_PASS, name


_HEX_TEXT = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=300)
@given(st.builds(
    ScanRecord, seq=st.integers(1, 2**53 - 1), scan_id=st.text(min_size=36, max_size=36), node_id=st.text(max_size=40),
    at_ms=st.integers(0, 2**53 - 1), mono_ms=st.integers(0, 2**53 - 1), clock_trusted=st.booleans(),
    serial=st.none() | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
    subject=st.none() | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16), text_sha256=_HEX_TEXT,
    verdict=st.sampled_from(["accept", "deny"]), reason=st.from_regex(r"[a-z_]{1,32}", fullmatch=True),
    direction=st.sampled_from(["entry", "exit"]), prev_hash=_HEX_TEXT, hash=_HEX_TEXT,
    epoch=st.integers(0, 2**31 - 1), trust_stale=st.booleans()))
def test_a_records_fast_hash_is_the_hash_of_its_canonical_json(record: ScanRecord) -> None:
    # computed_hash writes the canonical JSON itself (the server's speed); record_hash is the
    # definition (json.dumps, sorted keys): any text, quotes and non-ASCII included.
    assert record.computed_hash() == record_hash(record.body())
    assert ScanRecord.from_json(record.to_json()).computed_hash() == record.computed_hash()
