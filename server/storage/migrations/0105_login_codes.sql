-- One-time login codes sent by SMS to a person's verified phone, so that the owner of an account
-- whose login is throttled by someone else's failures still has a way in. One per person; the
-- code is stored hashed. Times are Unix seconds.
CREATE TABLE login_codes (
    person_id INTEGER PRIMARY KEY REFERENCES people (id),
    code_hash BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    tries_left INTEGER NOT NULL,
    sends_in_window INTEGER NOT NULL,
    window_start_at INTEGER NOT NULL
);
