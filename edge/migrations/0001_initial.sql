-- The node database as first released: metadata, trust documents, revocations, the scan log.
-- IF NOT EXISTS throughout: databases made before user_version was kept are at this version.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT PRIMARY KEY CHECK (kind IN ('trust_bundle', 'policy')),
    version INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    version INTEGER NOT NULL,
    entry TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS revocations_expires ON revocations (expires_at);
CREATE TABLE IF NOT EXISTS scans (
    seq INTEGER PRIMARY KEY,
    scan_id TEXT NOT NULL UNIQUE,
    node_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    mono_ms INTEGER NOT NULL,
    clock_trusted INTEGER NOT NULL,
    serial TEXT,
    subject TEXT,
    text_sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    direction TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    synced INTEGER NOT NULL DEFAULT 0
);
-- The sync queue: unsynced() and mark_synced() stay O(batch) however many synced records are kept.
CREATE INDEX IF NOT EXISTS scans_unsynced ON scans (seq) WHERE synced = 0;
CREATE TRIGGER IF NOT EXISTS scans_append_only BEFORE UPDATE OF
    seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject, text_sha256,
    verdict, reason, direction, prev_hash, hash ON scans
BEGIN SELECT RAISE(ABORT, 'scan log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS scans_keep_unsynced BEFORE DELETE ON scans WHEN OLD.synced = 0
BEGIN SELECT RAISE(ABORT, 'unsynced scans cannot be deleted'); END;
