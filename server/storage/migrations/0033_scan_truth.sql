-- What the scan log says (docs/sync-protocol.md, "What the scan log says"): at_ms is from now on
-- the scan's time on the server's clock (the node's time corrected for the clock skew the server
-- measured at the upload); node_at_ms keeps the node's own time (NULL on rows stored before this
-- migration, whose at_ms is the node's time). admitted_revoked: an accept of a pass revoked before
-- the scan (an offline door that had not learnt it). repeat_of: the scan id of the earlier entry
-- this entry repeats (same person, any door, within [sync] repeat_window_s, no exit between).
ALTER TABLE scans ADD COLUMN node_at_ms INTEGER;
ALTER TABLE scans ADD COLUMN admitted_revoked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN repeat_of TEXT;
-- Flagged scans are rare: the scan log's flag filters walk these small indexes, never the table.
CREATE INDEX scans_admitted_revoked ON scans (at_ms) WHERE admitted_revoked = 1;
CREATE INDEX scans_repeated ON scans (at_ms) WHERE repeat_of IS NOT NULL;
-- Each upload looks up the revocations of the passes and people it admitted.
CREATE INDEX revocations_serial ON revocations (serial);
CREATE INDEX revocations_subject ON revocations (subject);
