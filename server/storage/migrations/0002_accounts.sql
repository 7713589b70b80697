-- Accounts: departments, people, counsellor scopes, sessions, login throttling, phone codes,
-- audit log and the SMS outbox. Times are INTEGER Unix seconds (UTC); binary ids are BLOB.

CREATE TABLE departments (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- One row per campus account. password_hash and initial_hash are Argon2id PHC strings; the
-- national-ID digits themselves are never stored. subject is 8 random bytes (the pseudonymous
-- id carried in passes), made at creation, never derived from the number.
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('student', 'staff', 'counsellor', 'school_admin', 'system_admin')),
    department TEXT REFERENCES departments (code),
    class_name TEXT,
    phone TEXT,
    phone_verified INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL,
    initial_hash TEXT NOT NULL,
    password_state TEXT NOT NULL DEFAULT 'initial' CHECK (password_state IN ('initial', 'active')),
    subject BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    password_changed_at INTEGER
);
CREATE INDEX people_department ON people (department, role);

CREATE TABLE counsellor_departments (
    person_id INTEGER NOT NULL REFERENCES people (id),
    department TEXT NOT NULL REFERENCES departments (code),
    PRIMARY KEY (person_id, department)
);
CREATE INDEX counsellor_departments_department ON counsellor_departments (department);

-- Server-side sessions: the cookie carries a random token, the table only its SHA-256.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_person ON sessions (person_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Login failures per key ('account:<number>' or 'address:<ip>').
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
);

-- Pending SMS one-time codes for phone binding (one per person; the code is stored hashed).
CREATE TABLE phone_codes (
    person_id INTEGER PRIMARY KEY REFERENCES people (id),
    phone TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    tries_left INTEGER NOT NULL,
    sends_in_window INTEGER NOT NULL,
    window_start_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    actor_number TEXT NOT NULL,
    action TEXT NOT NULL,
    target_person_id INTEGER,
    detail TEXT NOT NULL DEFAULT '{}',
    address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target_person_id, at);

-- Messages are inserted inside the transaction that decides to send them and delivered by the
-- background sender after commit. status: pending -> sending -> sent; a send that fails goes
-- back to pending with next_attempt_at pushed out; after max attempts it is failed.
-- 'sending' left over by a crash is never resent automatically (at most once per id).
CREATE TABLE sms_outbox (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    body TEXT NOT NULL,
    purpose TEXT NOT NULL,
    person_id INTEGER,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt_at);
