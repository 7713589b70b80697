-- Daily health check-ins and return-to-campus applications (docs/architecture.md §2.2-§2.4, §3).
-- Times are INTEGER Unix seconds (UTC); days are 'YYYY-MM-DD' in Asia/Shanghai.

-- One row per person per check-in day: a resubmission the same day updates the row
-- (UNIQUE + upsert), so a double tap or a retry never makes two.
CREATE TABLE checkins (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id),
    day TEXT NOT NULL,
    location_kind TEXT NOT NULL CHECK (location_kind IN ('on_campus', 'same_city', 'other_province', 'abroad')),
    region_code TEXT,
    temperature_c REAL NOT NULL,
    symptoms TEXT NOT NULL,
    case_contact_14d INTEGER NOT NULL,
    risk_area_14d INTEGER NOT NULL,
    case_status TEXT NOT NULL CHECK (case_status IN ('none', 'suspected', 'confirmed', 'asymptomatic')),
    remarks TEXT NOT NULL DEFAULT '',
    abnormal INTEGER NOT NULL,
    same_as_yesterday INTEGER NOT NULL DEFAULT 0,
    submitted_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    revisions INTEGER NOT NULL DEFAULT 1,
    UNIQUE (person_id, day)
);
CREATE INDEX checkins_day ON checkins (day, abnormal);

-- A return application. An amendment after a rejection is a new row (version + 1,
-- previous_id = the rejected one); the rejected row stays for audit.
CREATE TABLE return_applications (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id),
    department TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    previous_id INTEGER REFERENCES return_applications (id),
    state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'dept_approved', 'approved', 'arrived',
        'dept_rejected', 'school_rejected', 'withdrawn', 'expired', 'revoked')),
    planned_return_date TEXT NOT NULL,
    departure_region_code TEXT NOT NULL,
    itinerary TEXT NOT NULL,
    reason TEXT NOT NULL,
    confirmations_version TEXT NOT NULL,
    confirmations TEXT NOT NULL,
    checkin_id INTEGER REFERENCES checkins (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    dept_decided_by INTEGER REFERENCES people (id),
    dept_decided_at INTEGER,
    school_decided_by INTEGER REFERENCES people (id),
    school_decided_at INTEGER,
    decision_reason TEXT NOT NULL DEFAULT '',
    arrived_by INTEGER REFERENCES people (id),
    arrived_at INTEGER,
    expires_at INTEGER NOT NULL
);
-- At most one active application per person.
CREATE UNIQUE INDEX return_applications_one_active ON return_applications (person_id)
    WHERE state IN ('submitted', 'dept_approved', 'approved');
CREATE INDEX return_applications_queue ON return_applications (state, department, created_at);
CREATE INDEX return_applications_expiry ON return_applications (state, expires_at);

-- Every state change: who, when, why.
CREATE TABLE application_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL REFERENCES return_applications (id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor_id INTEGER REFERENCES people (id),
    actor_role TEXT NOT NULL,
    at INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX application_transitions_application ON application_transitions (application_id, id);
