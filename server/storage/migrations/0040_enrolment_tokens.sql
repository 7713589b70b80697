-- One-time door node enrolment tokens (issue 8). The token itself is never stored: token_hash
-- is the SHA-256 hex of its text. A token names the node it enrols; it is used once
-- (used_at), before expires_at (Unix seconds), unless cancelled (cancelled_at).

CREATE TABLE enrolment_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    node_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    building TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    used_from TEXT NOT NULL DEFAULT '',
    cancelled_at INTEGER
);
CREATE INDEX enrolment_tokens_node ON enrolment_tokens (node_id);
