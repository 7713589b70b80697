-- The impossible-travel check and the person search both go through (subject, at_ms); a second
-- random-key index on serial only slowed every upload into a table of millions of rows.
DROP INDEX scans_serial_at;
