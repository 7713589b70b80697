"""The node store: seeding, the hash-chained append-only log, sync methods, trusted time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.bundle import read_bundle
from edge.config import NodeConfig
from edge.node import open_store
from edge.store import NodeStore, StoreError
from shared.errors import BundleSignatureError, SignatureError
from shared.keys import generate_key
from shared.revocation import make_delta
from shared.scanlog import GENESIS_HASH, record_hash, uuid7, verify_chain
from shared.trust import issue_certificate, make_bundle

from .helpers import T0_S, Campus


async def append(store: NodeStore, at_ms: int, verdict: str = "accept", reason: str = "accepted") -> int:
    rec = await store.append_scan(
        scan_id=str(uuid7(at_ms)), node_id="d7-east", at_ms=at_ms, mono_ms=5000, clock_trusted=True,
        serial="00" * 8, subject="11" * 8, text_sha256="ab" * 32, verdict=verdict, reason=reason,
        direction="entry",
    )
    return rec.seq


def test_uuid7_is_version_7_and_time_ordered() -> None:
    a, b = uuid7(1_700_000_000_000), uuid7(1_700_000_000_001)
    assert a.version == 7 and a.variant == "specified in RFC 4122"
    assert str(a) < str(b)
    assert uuid7(0x0123456789AB, bytes(10)).hex.startswith("0123456789ab7")


async def test_seed_from_bundle_then_reopen_keeps_everything(config: NodeConfig, campus: Campus) -> None:
    store = await open_store(config)
    assert store.seeded
    assert store.trust_bundle is not None and store.trust_bundle.version == 1
    assert store.revocations.version == 1
    assert store.policies is not None and store.policies.for_building("D7").group == 1
    assert store.time_floor_s == T0_S - 300  # the newest signed time in the bundle
    await append(store, T0_S * 1000)
    await store.close()

    again = await open_store(config)
    try:
        assert again.seeded and again.time_floor_s == T0_S
        assert (await again.stats()).last_seq == 1
        assert await again.check_integrity() == []
    finally:
        await again.close()


async def test_log_is_a_hash_chain_and_append_only(config: NodeConfig) -> None:
    store = await open_store(config)
    try:
        for i in range(3):
            await append(store, (T0_S + i) * 1000)
        records = await store.records()
        assert [r.seq for r in records] == [1, 2, 3]
        assert records[0].prev_hash == GENESIS_HASH
        assert records[1].prev_hash == records[0].hash
        assert all(record_hash(r.body()) == r.hash for r in records)
        assert verify_chain([r.to_json() for r in records], GENESIS_HASH, 0) == []
    finally:
        await store.close()
    with sqlite3.connect(config.db_path) as raw:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE scans SET verdict = 'accept' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="unsynced"):
            raw.execute("DELETE FROM scans WHERE seq = 2")


def test_chain_check_finds_gaps_edits_and_bad_links() -> None:
    from shared.scanlog import seal

    recs = []
    prev = GENESIS_HASH
    for seq in (1, 2, 3, 4):
        r = seal(seq=seq, scan_id=f"id{seq}", node_id="n", at_ms=seq, mono_ms=seq, clock_trusted=True,
                 serial=None, subject=None, text_sha256="0" * 64, verdict="deny",
                 reason="not_campus_pass", direction="entry", prev_hash=prev)
        recs.append(r.to_json())
        prev = r.hash
    edited = [dict(d) for d in recs]
    edited[1]["verdict"] = "accept"
    assert [(b.seq, b.kind) for b in verify_chain(edited, GENESIS_HASH, 0)] == [(2, "bad_hash")]
    assert [(b.seq, b.kind) for b in verify_chain([recs[0], recs[2], recs[3]], GENESIS_HASH, 0)] == [(3, "gap")]


async def test_sync_batches_mark_and_purge(config: NodeConfig) -> None:
    store = await open_store(config)
    try:
        for i in range(5):
            await append(store, (T0_S + i * 3600) * 1000)
        batch = await store.unsynced(limit=2)
        assert [r.seq for r in batch] == [1, 2]
        assert await store.mark_synced(3) == 3
        stats = await store.stats()
        assert (stats.unsynced, stats.oldest_unsynced_at_ms) == (2, (T0_S + 4 * 3600) * 1000 - 3600_000)
        assert [r.seq for r in await store.unsynced()] == [4, 5]
        # At T0+4h, synced records more than 2 h 1 s old are seq 1 (T0) and 2 (T0+1h); seq 3 is 2 h old.
        assert await store.purge_synced(2 * 3600 + 1, (T0_S + 4 * 3600) * 1000) == 2
        assert [r.seq for r in await store.records()] == [3, 4, 5]
        assert await store.check_integrity() == []
        await append(store, (T0_S + 5 * 3600) * 1000)
        assert (await store.stats()).last_seq == 6
    finally:
        await store.close()


async def test_a_node_whose_whole_log_was_purged_continues_the_chain(config: NodeConfig) -> None:
    store = await open_store(config)
    await append(store, T0_S * 1000)
    await append(store, (T0_S + 10) * 1000)
    await store.mark_synced(2)
    assert await store.purge_synced(0, (T0_S + 100) * 1000) == 1  # the newest is kept
    await store.close()
    store = await open_store(config)
    try:
        assert await append(store, (T0_S + 200) * 1000) == 3
        assert await store.check_integrity() == []
    finally:
        await store.close()


async def test_trust_bundle_replacement_is_verified_and_never_rolls_back(
    config: NodeConfig, campus: Campus
) -> None:
    store = await open_store(config)
    try:
        new_issuer = generate_key()
        cert2 = issue_certificate(campus.root, 2, new_issuer.public_key(), T0_S, T0_S + 86400 * 400)
        v2 = make_bundle(campus.root, 2, T0_S, [*campus.bundle.issuers, cert2])
        assert (await store.replace_trust_bundle(v2.to_json())).version == 2
        assert store.trust_bundle is not None and len(store.trust_bundle.issuers) == 2
        with pytest.raises(StoreError) as err:
            await store.replace_trust_bundle(campus.bundle.to_json())
        assert err.value.code == "stale_document"
        foreign = Campus()
        with pytest.raises(BundleSignatureError):
            await store.replace_trust_bundle(foreign.bundle.to_json())
        assert store.trust_bundle.version == 2
    finally:
        await store.close()


async def test_revocation_deltas_apply_in_order(config: NodeConfig, campus: Campus) -> None:
    store = await open_store(config)
    try:
        serial = bytes(range(8))
        delta = campus.revoke_serial(serial)
        revset = await store.apply_revocation_delta(delta)
        assert revset.version == 2 and serial in revset.serials
        assert store.revocations_issued_at_s == T0_S - 200
        await store.apply_revocation_delta(delta)  # a retried delta is harmless
        assert len(store.revocations) == 1
        campus.revoke_serial(bytes(8))
        gap = campus.revoke_serial(bytes([9] * 8))
        with pytest.raises(StoreError) as err:
            await store.apply_revocation_delta(gap)
        assert err.value.code == "revocation_gap"
        forged = make_delta(generate_key(), 1, 2, 3, T0_S, [])
        with pytest.raises(SignatureError):
            await store.apply_revocation_delta(forged)
    finally:
        await store.close()
    again = await open_store(config)
    try:
        assert again.revocations.version == 2 and serial in again.revocations.serials
    finally:
        await again.close()


async def test_policy_replacement(config: NodeConfig, campus: Campus) -> None:
    store = await open_store(config)
    try:
        await store.replace_policy(campus.policy_doc(version=2, hours=["07:00-22:00"]))
        assert store.policies is not None and store.policies.version == 2
        assert store.policies.for_building("D7").hours
        with pytest.raises(StoreError):
            await store.replace_policy(campus.policy_doc(version=1))
    finally:
        await store.close()


async def test_time_floor_only_rises_and_offset_is_kept(config: NodeConfig) -> None:
    store = await open_store(config)
    try:
        assert await store.raise_time_floor(T0_S + 50) == T0_S + 50
        assert await store.raise_time_floor(T0_S) == T0_S + 50
        assert await store.reset_time_floor(T0_S - 10) == T0_S - 10  # the server's word may lower it
        await store.record_clock_offset(-12.5, T0_S + 50)
        assert await store.clock_offset() == (-12.5, T0_S + 50)
    finally:
        await store.close()


async def test_database_of_another_root_is_refused(config: NodeConfig, tmp_path: Path) -> None:
    store = await open_store(config)
    await store.close()
    with pytest.raises(StoreError) as err:
        await NodeStore.open(config.db_path, Campus().root_public)
    assert err.value.code == "root_mismatch"
    docs = read_bundle(config)
    fresh = await NodeStore.open(tmp_path / "other.db", Campus().root_public)
    try:
        with pytest.raises(StoreError):
            await fresh.seed(docs)
    finally:
        await fresh.close()


async def test_concurrent_writers_keep_the_chain(config: NodeConfig, campus: Campus) -> None:
    import asyncio

    store = await open_store(config)
    try:
        delta = campus.revoke_serial(bytes(8))
        await asyncio.gather(
            *(append(store, (T0_S + i) * 1000) for i in range(20)),
            store.apply_revocation_delta(delta),
            store.mark_synced(5),
            store.raise_time_floor(T0_S + 100),
        )
        assert [r.seq for r in await store.records()] == list(range(1, 21))
        assert await store.check_integrity() == []
        assert store.revocations.version == 2
    finally:
        await store.close()
