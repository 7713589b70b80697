-- Foundation: key-value settings, building groups and buildings, issued passes, revocations.
-- Times are INTEGER Unix seconds (UTC); binary ids are BLOB.

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE building_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    allowed_statuses TEXT NOT NULL DEFAULT 'green',
    hours TEXT NOT NULL DEFAULT ''
);

CREATE TABLE buildings (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES building_groups (id)
);

CREATE TABLE passes (
    serial BLOB PRIMARY KEY,
    subject BLOB NOT NULL,
    person_id INTEGER,
    visitor_name TEXT,
    key_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    scope TEXT NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    issued_by TEXT NOT NULL
);
CREATE INDEX passes_subject ON passes (subject, valid_until);

CREATE TABLE revocations (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    serial BLOB,
    subject BLOB,
    before_at INTEGER,
    expires_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    CHECK ((serial IS NOT NULL) <> (subject IS NOT NULL))
);
CREATE INDEX revocations_expires ON revocations (expires_at);
