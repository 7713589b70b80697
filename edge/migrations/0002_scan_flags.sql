-- Scans accepted on stale trust data (fail_mode = "open") carry a flag that reaches the server.
ALTER TABLE scans ADD COLUMN trust_stale INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER IF EXISTS scans_append_only;
CREATE TRIGGER scans_append_only BEFORE UPDATE OF
    seq, scan_id, node_id, at_ms, mono_ms, clock_trusted, serial, subject, text_sha256,
    verdict, reason, direction, prev_hash, hash, trust_stale ON scans
BEGIN SELECT RAISE(ABORT, 'scan log is append-only'); END;
