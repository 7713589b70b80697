-- Dashboards (issue 9): check-in reminders, the automatic reminder's daily runs, closed-day
-- check-in figures, and indexes for the dashboard queries. Times are INTEGER Unix seconds
-- (UTC); days are 'YYYY-MM-DD' in Asia/Shanghai.

-- At most one reminder per person per check-in day (manual or automatic): the primary key is
-- the throttle. kind: manual | auto; actor_id is the counsellor or admin (NULL for auto).
CREATE TABLE checkin_reminders (
    person_id INTEGER NOT NULL REFERENCES people (id),
    day TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('manual', 'auto')),
    actor_id INTEGER REFERENCES people (id),
    sms_id TEXT,
    PRIMARY KEY (person_id, day)
);
CREATE INDEX checkin_reminders_day ON checkin_reminders (day);

-- The automatic reminder ran for this day (so a restart never sends it twice).
CREATE TABLE reminder_runs (
    day TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    reminded INTEGER NOT NULL
);

-- Check-in figures of closed days (before today, when check-ins can no longer change), one row
-- per day and department; checkin_stat_days lists the days computed.
CREATE TABLE checkin_day_stats (
    day TEXT NOT NULL,
    department TEXT NOT NULL,
    expected INTEGER NOT NULL,
    done INTEGER NOT NULL,
    abnormal INTEGER NOT NULL,
    PRIMARY KEY (day, department)
);
CREATE TABLE checkin_stat_days (
    day TEXT PRIMARY KEY,
    computed_at INTEGER NOT NULL
);

-- Check-ins of a day range with the person and the abnormal flag, from the index alone.
CREATE INDEX checkins_day_person ON checkins (day, person_id, abnormal);
-- Arrivals per day and applications per state and department.
CREATE INDEX arrivals_at ON arrivals (at);
CREATE INDEX return_applications_state_department ON return_applications (state, department, planned_return_date);
