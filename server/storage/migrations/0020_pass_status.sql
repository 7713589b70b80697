-- Pass status per person (docs/architecture.md §3), its history, arrivals and dormitory scopes.
-- Times are INTEGER Unix seconds (UTC).

-- status: none | black | green | hold. base: the status a hold returns to when cleared
-- (black or green; none otherwise). hold_kind: abnormal_checkin | missed_checkin | admin.
-- last_checkin_day: the person's latest check-in day (YYYY-MM-DD, Asia/Shanghai), as the
-- workflow reported it; last_checkin_abnormal: 1 when that check-in was abnormal.
-- current_text: the newest pass signed for the person (valid until current_until).
CREATE TABLE pass_status (
    person_id INTEGER PRIMARY KEY REFERENCES people (id),
    status TEXT NOT NULL DEFAULT 'none' CHECK (status IN ('none', 'black', 'green', 'hold')),
    base TEXT NOT NULL DEFAULT 'none' CHECK (base IN ('none', 'black', 'green')),
    hold_kind TEXT,
    reason TEXT NOT NULL DEFAULT '',
    last_checkin_day TEXT,
    last_checkin_abnormal INTEGER NOT NULL DEFAULT 0,
    current_serial BLOB,
    current_text TEXT,
    current_until INTEGER,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER
);
CREATE INDEX pass_status_status ON pass_status (status);

CREATE TABLE pass_status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people (id),
    at INTEGER NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    cause TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    actor_id INTEGER
);
CREATE INDEX pass_status_history_person ON pass_status_history (person_id, id);

-- Arrival confirmations by counsellors. method: photo | text | list | number.
CREATE TABLE arrivals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people (id),
    counsellor_id INTEGER NOT NULL REFERENCES people (id),
    at INTEGER NOT NULL,
    method TEXT NOT NULL,
    serial BLOB
);
CREATE INDEX arrivals_person ON arrivals (person_id);

-- Dormitory residents: the building group (by name) of their dormitory, added to their scope.
CREATE TABLE dormitory_residents (
    person_id INTEGER PRIMARY KEY REFERENCES people (id),
    group_name TEXT NOT NULL
);
