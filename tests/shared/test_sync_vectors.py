"""Golden sync vectors (docs/sync-vectors/): the node's encoder writes exactly the stored bytes
from the same inputs, the server's decoder reads them into the expected typed objects, the
node's answer check accepts and refuses as stored, and the typed contract and the vectors have
the same members, both ways (a member added on one side only fails here).

A second implementation (another node, another server) is checked against the same files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from server.sync import read_request
from shared.errors import WireFormatError
from shared.keys import b64u_encode, private_key_from_seed, public_key_bytes, public_key_from_bytes
from shared.node_auth import canonical_string, parse_headers, sign_request, verify_request
from shared.scanlog import ScanRecord, seal
from shared.sync_answer import AnswerError, sign_answer, signed_bytes, verify_answer
from shared.sync_contract import AnswerBinding, Gap, Heartbeat, SyncAnswer, SyncRequest
from shared.trust import TrustBundle
from tests.vectors.make_sync_vectors import FILES, render

FOLDER = Path(__file__).parents[2] / "docs" / "sync-vectors"


def vectors(name: str) -> dict[str, Any]:
    return json.loads((FOLDER / name).read_text(encoding="ascii"))


RECORDS = vectors("scan-records.json")
HEARTBEATS = vectors("heartbeats.json")
REQUESTS = vectors("requests.json")
ANSWERS = vectors("answers.json")
REFUSALS = vectors("refusals.json")


def names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def typed_request(doc: dict[str, Any]) -> SyncRequest:
    """The typed request a vector's ``decoded`` object stands for (built without the decoder)."""
    return SyncRequest(Heartbeat(**doc["heartbeat"]), tuple(ScanRecord(**r) for r in doc["records"]),
                       doc["documents"])


def typed_answer(doc: dict[str, Any]) -> SyncAnswer:
    """The typed answer a vector's ``decoded`` object stands for (built without the decoder)."""
    fields = {k: v for k, v in doc.items() if k not in ("gaps", "request")}
    return SyncAnswer(**fields, gaps=tuple(Gap(**g) for g in doc["gaps"]), request=AnswerBinding(**doc["request"]))


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_checked_in_files_are_what_the_generator_writes(name: str) -> None:
    assert (FOLDER / name).read_text(encoding="ascii") == render(name), \
        f"run python tests/vectors/make_sync_vectors.py and review the change of {name}"


# ---- the contract and the vectors have the same members, both ways -----------------------------


def test_scan_record_members_match_the_vectors() -> None:
    seen = set().union(*(c["record"].keys() for c in RECORDS["cases"]))
    assert seen == names(ScanRecord)
    required = {f.name for f in dataclasses.fields(ScanRecord) if f.default is dataclasses.MISSING}
    assert all(required <= c["record"].keys() for c in RECORDS["cases"])


def test_heartbeat_members_match_the_vectors() -> None:
    full, older = HEARTBEATS["cases"]
    assert set(full["json"]) == names(Heartbeat) == set(full["decoded"]) == set(older["decoded"])
    required = {f.name for f in dataclasses.fields(Heartbeat)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    assert set(older["json"]) == required


def test_request_and_answer_members_match_the_vectors() -> None:
    for case in REQUESTS["cases"]:
        assert set(case["decoded"]) == names(SyncRequest)
    for case in ANSWERS["cases"][:2]:
        doc = case["json"]
        assert set(doc) == names(SyncAnswer)
        assert set(doc["request"]) == names(AnswerBinding)
        assert all(set(g) == names(Gap) for g in doc["gaps"])
    assert ANSWERS["cases"][0]["json"]["gaps"], "a vector carries a gap"


# ---- scan records ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", RECORDS["cases"], ids=lambda c: f"seq{c['record']['seq']}-epoch{c['record'].get('epoch', 0)}")
def test_record_hashes_and_canonical_bytes(case: dict[str, Any]) -> None:
    record = ScanRecord.from_json(case["record"])
    assert record == ScanRecord(**case["record"])
    assert json.dumps(record.body(), sort_keys=True, separators=(",", ":")) == case["canonical"]
    assert record.computed_hash() == case["hash"] == record.hash
    body = {k: v for k, v in case["record"].items() if k != "hash"}
    assert seal(**body).to_json() == case["record"]  # the node's sealing gives the stored record


# ---- requests: node encoder, server decoder, signature ------------------------------------------


@pytest.mark.parametrize("case", REQUESTS["cases"], ids=lambda c: c["name"])
def test_the_server_decodes_each_request_into_the_typed_objects(case: dict[str, Any]) -> None:
    expected = typed_request(case["decoded"])
    assert read_request(json.loads(case["body"]), REQUESTS["node_id"], 1000) == expected
    assert SyncRequest.from_json(json.loads(case["body"])).to_json() == case["decoded"]


def test_the_node_encodes_the_request_byte_for_byte() -> None:
    case = REQUESTS["cases"][0]
    body = typed_request(case["decoded"]).to_bytes()
    assert body.decode("ascii") == case["body"]


@pytest.mark.parametrize("case", REQUESTS["cases"], ids=lambda c: c["name"])
def test_request_signatures(case: dict[str, Any]) -> None:
    key = private_key_from_seed(bytes.fromhex(REQUESTS["node_seed"]))
    assert b64u_encode(public_key_bytes(key)) == REQUESTS["node_public_key"]
    body, signed = case["body"].encode("ascii"), case["signed"]
    assert canonical_string("POST", signed["path"], REQUESTS["node_id"], signed["timestamp"], signed["nonce"],
                            body).decode("ascii") == signed["signed_text"]
    assert sign_request(key, REQUESTS["node_id"], "POST", signed["path"], body, signed["timestamp"],
                        signed["nonce"]) == signed["headers"]
    verify_request(parse_headers(signed["headers"]), public_key_from_bytes(public_key_bytes(key)), "POST",
                   signed["path"], body, signed["timestamp"], 300)


@pytest.mark.parametrize("case", REFUSALS["cases"], ids=lambda c: c["name"])
def test_the_server_refuses_each_bad_body_with_its_code(case: dict[str, Any]) -> None:
    with pytest.raises(WireFormatError) as err:
        read_request(case["body"], REFUSALS["node_id"], 1000)
    assert err.value.code == case["code"]


def test_a_batch_over_the_limit_is_refused() -> None:
    body = json.loads(REQUESTS["cases"][0]["body"])
    with pytest.raises(WireFormatError) as err:
        read_request(body, REQUESTS["node_id"], 2)
    assert err.value.code == "batch_too_large"


# ---- answers: server encoder, node decoder -----------------------------------------------------


ROOT_PUBLIC = public_key_bytes(private_key_from_seed(bytes.fromhex(ANSWERS["root_seed"])))


@pytest.mark.parametrize("case", ANSWERS["cases"][:2], ids=lambda c: c["name"])
def test_the_server_encodes_and_signs_the_answer_byte_for_byte(case: dict[str, Any]) -> None:
    issuer = private_key_from_seed(bytes.fromhex(ANSWERS["issuer_seed"]))
    unsigned = dataclasses.replace(typed_answer(case["json"]), key_id=0, request=None, signature="")
    signed = sign_answer(unsigned, AnswerBinding(**ANSWERS["request"]), key_id=ANSWERS["key_id"], key=issuer)
    assert signed.to_json() == case["json"]
    assert signed_bytes(signed.to_json()).decode("ascii") == case["signed_text"]


@pytest.mark.parametrize("case", ANSWERS["cases"], ids=lambda c: c["name"])
def test_the_node_accepts_or_refuses_each_answer(case: dict[str, Any]) -> None:
    binding = ANSWERS["request"]

    def check() -> SyncAnswer:
        return verify_answer(case["json"], node_id=binding["node_id"], nonce=binding["nonce"],
                             body_sha256=binding["body_sha256"],
                             held=TrustBundle.load(ANSWERS["trust_bundle"], ROOT_PUBLIC), pinned_root=ROOT_PUBLIC).answer

    if case["accept"]:
        answer = check()
        assert answer == typed_answer(case["decoded"])
        assert answer.to_json() == case["decoded"]
    else:
        with pytest.raises(AnswerError):
            check()


def test_the_answer_binds_the_first_request() -> None:
    assert b64u_encode(ROOT_PUBLIC) == ANSWERS["root_public_key"]
    assert ANSWERS["request"]["body_sha256"] == REQUESTS["cases"][0]["signed"]["body_sha256"]
    assert ANSWERS["request"]["nonce"] == REQUESTS["cases"][0]["signed"]["nonce"]
