"""Regenerate ``docs/sync-vectors/*.json``: golden vectors for the node ↔ server sync contract
(docs/sync-protocol.md, "Golden vectors").

Run ``python tests/vectors/make_sync_vectors.py`` only when the wire format changes on purpose;
``tests/shared/test_sync_vectors.py`` checks the node's encoder and the server's decoder against
the stored files. Keys come from fixed seeds, scan ids from fixed random bytes, nonces are fixed,
and Ed25519 signatures are deterministic (RFC 8032): the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from shared.keys import b64u_encode, private_key_from_seed, public_key_bytes
from shared.node_auth import body_sha256, canonical_string, sign_request
from shared.revocation import RevocationEntry, make_delta
from shared.scanlog import GENESIS_HASH, ScanRecord, seal, uuid7
from shared.signed_doc import sign_document
from shared.sync_answer import DOMAIN, sign_answer, signed_bytes
from shared.sync_contract import AnswerBinding, Gap, Heartbeat, SyncAnswer, SyncRequest
from shared.trust import issue_certificate, make_bundle

OUT = Path(__file__).resolve().parents[2] / "docs" / "sync-vectors"

ROOT_SEED = bytes(range(32))
ISSUER_SEED = bytes(range(32, 64))
NODE_SEED = bytes(range(64, 96))
KEY_ID = 7
NODE_ID = "d7-east"
PATH = f"/api/v1/nodes/{NODE_ID}/sync"
NOW_S = 1772416800  # 2026-03-02T02:00:00Z (10:00 Asia/Shanghai)
CERT_FROM = 1767225600  # 2026-01-01T00:00:00Z
CERT_UNTIL = 1798761600  # 2027-01-01T00:00:00Z
NONCE = "AAECAwQFBgcICQoLDA0ODw"  # bytes 0..15, unpadded base64url
OLDER_NONCE = "EBESExQVFhcYGRobHB0eHw"  # bytes 16..31


def _records() -> list[ScanRecord]:
    """Four chained records of one node: an entry accepted, a denial without a pass, an exit
    accepted on stale revocation data (``trust_stale``), and the first record of a replaced
    database (``epoch`` 1, seq 1)."""
    base_ms = NOW_S * 1000 - 600_000
    rows: list[dict[str, Any]] = [
        dict(serial="a1b2c3d4e5f60718", subject="0011223344556677", verdict="accept", reason="accepted",
             direction="entry"),
        dict(serial=None, subject=None, verdict="deny", reason="not_campus_pass", direction="entry"),
        dict(serial="1112131415161718", subject="0011223344556677", verdict="accept", reason="accepted",
             direction="exit", trust_stale=True),
    ]
    out, prev = [], GENESIS_HASH
    for i, row in enumerate(rows):
        at_ms = base_ms + i * 61_250
        rec = seal(seq=i + 1, scan_id=str(uuid7(at_ms, bytes([i + 1] * 10))), node_id=NODE_ID, at_ms=at_ms,
                   mono_ms=5_000_000 + i * 61_250, clock_trusted=True, text_sha256=f"{i + 1:02x}" * 32,
                   prev_hash=prev, **row)
        prev = rec.hash
        out.append(rec)
    at_ms = base_ms + 300_000
    out.append(seal(seq=1, scan_id=str(uuid7(at_ms, bytes([9] * 10))), node_id=NODE_ID, at_ms=at_ms, mono_ms=1_200,
                    clock_trusted=False, serial=None, subject=None, text_sha256="09" * 32, verdict="deny",
                    reason="malformed", direction="entry", prev_hash=GENESIS_HASH, epoch=1))
    return out


def _heartbeat() -> Heartbeat:
    return Heartbeat(
        node_time_ms=NOW_S * 1000 - 412, queue_depth=3, oldest_unsynced_at_ms=NOW_S * 1000 - 600_000,
        clock_offset_s=0.4, software_version="0.1.0", trust_version=1, revocation_version=7, policy_version=3,
        camera="ok", decoder="zxing", uptime_s=86400.0, clock_trusted=True, storage="ok", storage_queued=0,
        storage_dropped=0, bad_answers=0, chain_epoch=0,
    )


def scan_records() -> dict[str, Any]:
    return {
        "description": "campuspass sync: scan records and their hash chain; see docs/sync-protocol.md",
        "genesis_hash": GENESIS_HASH,
        "cases": [{"record": r.to_json(), "canonical": json.dumps(r.body(), sort_keys=True, separators=(",", ":")),
                   "hash": r.hash} for r in _records()],
    }


def heartbeats() -> dict[str, Any]:
    full = _heartbeat()
    required = {"node_time_ms": NOW_S * 1000, "queue_depth": 0, "software_version": "0.0.9", "trust_version": 1,
                "revocation_version": 0, "policy_version": 1}
    return {
        "description": "campuspass sync: heartbeats as sent and as read (members left out take their "
                       "defaults); see docs/sync-protocol.md",
        "cases": [
            {"name": "every member (what the node sends)", "json": full.to_json(), "decoded": full.to_json()},
            {"name": "an older node: the six required members only", "json": required,
             "decoded": Heartbeat(**required).to_json()},
        ],
    }


def _signed(body: bytes, nonce: str) -> dict[str, Any]:
    node = private_key_from_seed(NODE_SEED)
    return {
        "method": "POST", "path": PATH, "timestamp": NOW_S, "nonce": nonce, "body_sha256": body_sha256(body),
        "signed_text": canonical_string("POST", PATH, NODE_ID, NOW_S, nonce, body).decode("ascii"),
        "headers": sign_request(node, NODE_ID, "POST", PATH, body, NOW_S, nonce),
    }


def requests() -> dict[str, Any]:
    chain = _records()[:3]
    request = SyncRequest(_heartbeat(), tuple(chain), documents=True)
    body = request.to_bytes()
    # What a node of the first release sent: the six required heartbeat members, no
    # ``documents`` member, records without the optional members.
    older = {"heartbeat": heartbeats()["cases"][1]["json"], "records": [chain[0].to_json(), chain[1].to_json()]}
    older_body = json.dumps(older, separators=(",", ":")).encode("ascii")
    older_request = SyncRequest(Heartbeat(**older["heartbeat"]), tuple(chain[:2]))
    node = private_key_from_seed(NODE_SEED)
    return {
        "description": "campuspass sync: request bodies, their hashes and signed headers; see docs/sync-protocol.md",
        "node_id": NODE_ID,
        "node_seed": NODE_SEED.hex(),
        "node_public_key": b64u_encode(public_key_bytes(node)),
        "cases": [
            {"name": "a batch of three records with the heartbeat", "body": body.decode("ascii"),
             "decoded": request.to_json(), "signed": _signed(body, NONCE)},
            {"name": "an older node: no documents member, six heartbeat members", "body": older_body.decode("ascii"),
             "decoded": older_request.to_json(), "signed": _signed(older_body, OLDER_NONCE)},
        ],
    }


def answers() -> dict[str, Any]:
    root = private_key_from_seed(ROOT_SEED)
    issuer = private_key_from_seed(ISSUER_SEED)
    cert = issue_certificate(root, KEY_ID, issuer.public_key(), CERT_FROM, CERT_UNTIL)
    bundle = make_bundle(root, 1, CERT_FROM, [cert])
    delta = make_delta(issuer, KEY_ID, 7, 8, NOW_S,
                       [RevocationEntry(8, NOW_S + 86400, serial=bytes.fromhex("5152535455565758"))])
    body_hash = requests()["cases"][0]["signed"]["body_sha256"]
    binding = AnswerBinding(NODE_ID, NONCE, body_hash)
    answer = SyncAnswer(ack_seq=3, received=3, inserted=2, duplicates=1, gaps=(Gap(2, 2),),
                        server_time_ms=NOW_S * 1000 + 456, revocations=delta)
    signed = sign_answer(answer, binding, key_id=KEY_ID, key=issuer)
    quiet = sign_answer(SyncAnswer(0, 0, 0, 0, (), NOW_S * 1000 + 456), binding, key_id=KEY_ID, key=issuer)
    # A newer server's answer with a member this node does not know: signed with it, accepted.
    newer = sign_document(DOMAIN, {**signed.to_json(), "retry_after_s": 30}, issuer)
    forged = {**signed.to_json(), "ack_seq": 1_000_000}
    other = sign_answer(answer, replace(binding, nonce=OLDER_NONCE), key_id=KEY_ID, key=issuer).to_json()
    return {
        "description": "campuspass sync: signed answers and whether a node accepts them; see docs/sync-protocol.md",
        "root_seed": ROOT_SEED.hex(),
        "root_public_key": b64u_encode(public_key_bytes(root)),
        "issuer_seed": ISSUER_SEED.hex(),
        "key_id": KEY_ID,
        "trust_bundle": bundle.to_json(),
        "request": {"node_id": binding.node_id, "nonce": binding.nonce, "body_sha256": binding.body_sha256},
        "cases": [
            {"name": "an answer with a gap and a revocation delta", "json": signed.to_json(),
             "signed_text": signed_bytes(signed.to_json()).decode("ascii"), "accept": True,
             "decoded": signed.to_json()},
            {"name": "documents left out (documents: false)", "json": quiet.to_json(),
             "signed_text": signed_bytes(quiet.to_json()).decode("ascii"), "accept": True,
             "decoded": quiet.to_json()},
            {"name": "a newer server's extra member: covered by the signature, ignored", "json": newer,
             "signed_text": signed_bytes(newer).decode("ascii"), "accept": True,
             "decoded": {**signed.to_json(), "signature": newer["signature"]}},
            {"name": "ack_seq changed after signing", "json": forged, "accept": False},
            {"name": "signed for another request (a replay)", "json": other, "accept": False},
        ],
    }


def refusals() -> dict[str, Any]:
    """Bodies the server refuses (422 unless said), each with its error code."""
    hb = _heartbeat().to_json()
    rec = _records()[0].to_json()
    good = {"heartbeat": hb, "records": [rec], "documents": True}

    def body(**change: Any) -> dict[str, Any]:
        return {**good, **change}

    cases = [
        ("a member the server does not know", body(extra=1), "invalid_field"),
        ("records missing", {"heartbeat": hb}, "invalid_field"),
        ("documents not a boolean", body(documents="yes"), "invalid_field"),
        ("heartbeat: unknown member", body(heartbeat={**hb, "battery": 0.9}), "invalid_field"),
        ("heartbeat: required member missing", body(heartbeat={k: v for k, v in hb.items() if k != "queue_depth"}),
         "invalid_field"),
        ("heartbeat: wrong type", body(heartbeat={**hb, "queue_depth": "3"}), "invalid_field"),
        ("heartbeat: out of bounds", body(heartbeat={**hb, "software_version": "v" * 65}), "invalid_field"),
        ("record: unknown member", body(records=[{**rec, "note": "x"}]), "bad_record"),
        ("record: member missing", body(records=[{k: v for k, v in rec.items() if k != "mono_ms"}]), "bad_record"),
        ("record: seq as text", body(records=[{**rec, "seq": "1"}]), "bad_record"),
        ("record: clock_trusted as 1", body(records=[{**rec, "clock_trusted": 1}]), "bad_record"),
        ("record: serial not hex", body(records=[{**rec, "serial": "zz" * 8}]), "bad_record"),
        ("record: reason not a code", body(records=[{**rec, "reason": "Accepted!"}]), "bad_record"),
        ("record of another node", body(records=[{**rec, "node_id": "d1-west"}]), "bad_record"),
    ]
    return {
        "description": "campuspass sync: request bodies the server refuses with 422 and the error code "
                       "(nothing of them is stored); see docs/sync-protocol.md",
        "node_id": NODE_ID,
        "cases": [{"name": name, "body": doc, "code": code} for name, doc, code in cases],
    }


FILES = {
    "scan-records.json": scan_records,
    "heartbeats.json": heartbeats,
    "requests.json": requests,
    "answers.json": answers,
    "refusals.json": refusals,
}


def render(name: str) -> str:
    """The text of vector file ``name`` (what is checked in)."""
    return json.dumps(FILES[name](), indent=1, ensure_ascii=True) + "\n"


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name in FILES:
        (OUT / name).write_text(render(name), encoding="ascii")
        print(f"wrote {OUT / name}")
