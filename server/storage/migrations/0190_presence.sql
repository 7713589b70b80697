-- Stays, co-presence and occupancy (issue 19; docs/tracing.md) read one building's scans over a
-- time range: the (building, at_ms) index now also carries verdict, direction and subject, so
-- those reads never touch the table (same prefix: the admin scan search by building still uses it).
DROP INDEX scans_building_at;
CREATE INDEX scans_building_presence ON scans (building, at_ms, verdict, direction, subject);

-- People a building may hold at once (NULL: no limit set); the school dashboard warns above it.
ALTER TABLE buildings ADD COLUMN capacity INTEGER;
