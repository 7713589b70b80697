-- Door node faults (docs/sync-protocol.md, "Chain epochs"): a node whose database was replaced
-- starts chain epoch n+1 at seq 1; scans accepted on stale trust data carry a flag.
ALTER TABLE scans ADD COLUMN chain_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN trust_stale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN acked_epoch INTEGER NOT NULL DEFAULT 0;
-- Older servers could store two records under one sequence number of a node (a node re-seeded
-- from an empty database). Keep every row, but move all but the first of each out of epoch 0
-- (to minus its row id) so that one node, epoch and sequence number name one record from now on.
UPDATE scans SET chain_epoch = -id
    WHERE id NOT IN (SELECT MIN(id) FROM scans GROUP BY node_id, seq);
CREATE UNIQUE INDEX scans_node_epoch_seq ON scans (node_id, chain_epoch, seq);
