-- Co-presence in SQL (issue 19; docs/tracing.md): each accepted scan of a pass subject carries
-- the previous accepted scan of the same subject at the same building (its time and whether it
-- was an entry), when that one is at most a day older (server.storage.links.LINK_HORIZON_MS),
-- in the order (at_ms, direction, id). Sync ingest sets it for new scans and corrects the
-- successor of a late one; retention clears it where the previous scan was deleted. With it, a
-- person's time inside a building is a sum over single index entries, so the co-presence
-- overlaps are summed by the database from the covering index below.
ALTER TABLE scans ADD COLUMN prev_at BIGINT;
ALTER TABLE scans ADD COLUMN prev_entry SMALLINT;
UPDATE scans SET prev_at = l.prev_at, prev_entry = l.prev_entry FROM (
    SELECT id, LAG(at_ms) OVER w AS prev_at, CASE LAG(direction) OVER w WHEN 'entry' THEN 1 ELSE 0 END AS prev_entry,
           at_ms - LAG(at_ms) OVER w AS gap
    FROM scans WHERE verdict = 'accept' AND subject IS NOT NULL
    WINDOW w AS (PARTITION BY subject, building ORDER BY at_ms, direction, id)) l
WHERE scans.id = l.id AND l.gap <= 86400000;
DROP INDEX scans_building_presence;
CREATE INDEX scans_building_presence ON scans (building, at_ms, verdict, direction, subject, prev_at, prev_entry);
