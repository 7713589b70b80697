-- Door nodes and sync (docs/architecture.md §8): enrolled nodes, request nonces, uploaded scans,
-- the per-node sync log and anomalies. Times are INTEGER Unix seconds unless the column says _ms.

CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    building TEXT NOT NULL,
    direction TEXT NOT NULL DEFAULT 'entry' CHECK (direction IN ('entry', 'exit')),
    public_key BLOB NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    acked_seq INTEGER NOT NULL DEFAULT 0,
    acked_hash TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
    software_version TEXT NOT NULL DEFAULT '',
    trust_version INTEGER,
    revocation_version INTEGER,
    policy_version INTEGER,
    queue_depth INTEGER,
    oldest_unsynced_at INTEGER,
    clock_skew_s REAL,
    heartbeat TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE node_nonces (
    node_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (node_id, nonce)
);
CREATE INDEX node_nonces_expires ON node_nonces (expires_at);

-- One row per door decision uploaded. scan_id is the node's UUIDv7 (time-ordered) and the
-- idempotency key; serial and subject are 8-byte BLOBs like passes.serial / people.subject.
CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    scan_id TEXT NOT NULL UNIQUE,
    node_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    building TEXT NOT NULL,
    direction TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    clock_trusted INTEGER NOT NULL,
    serial BLOB,
    subject BLOB,
    text_sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX scans_building_at ON scans (building, at_ms);
CREATE INDEX scans_at ON scans (at_ms, verdict);
CREATE INDEX scans_node_seq ON scans (node_id, seq);
CREATE INDEX scans_serial_at ON scans (serial, at_ms);
CREATE INDEX scans_subject_at ON scans (subject, at_ms);

CREATE TABLE sync_log (
    id INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    received INTEGER NOT NULL,
    inserted INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    acked_seq INTEGER NOT NULL,
    gaps INTEGER NOT NULL,
    errors TEXT NOT NULL DEFAULT '',
    clock_skew_s REAL,
    queue_depth INTEGER,
    heartbeat TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_log_node_at ON sync_log (node_id, at);

-- kind: chain_gap | bad_link | bad_hash | clock_skew | impossible_travel
CREATE TABLE node_anomalies (
    id INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    seq_from INTEGER,
    seq_to INTEGER,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX node_anomalies_node_at ON node_anomalies (node_id, at);
