-- Which server process ran each periodic job's latest round (server/storage/leases.py): one row per
-- job; period is the number of the last period taken (Unix seconds // the job's period_s).
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    period INTEGER NOT NULL,
    holder TEXT NOT NULL,
    taken_at INTEGER NOT NULL
);
