-- Who may clear a hold, and health answers a person cannot undo (docs/passes.md, "Who clears a
-- hold"; docs/security.md, separation of duties).

-- hold_by_role: the role that placed the current hold: system (the abnormal check-in rule and
-- the missed check-in job), counsellor or school_admin; NULL when not on hold. Only a role at
-- least as high clears it. hold_by: people.id of the staff member who placed it (NULL: system).
-- abnormal_day: the latest check-in day (YYYY-MM-DD) with an abnormal answer on record, even
-- when that day's answers were edited back to normal.
ALTER TABLE pass_status ADD COLUMN hold_by_role TEXT
    CHECK (hold_by_role IS NULL OR hold_by_role IN ('system', 'counsellor', 'school_admin'));
ALTER TABLE pass_status ADD COLUMN hold_by INTEGER;
ALTER TABLE pass_status ADD COLUMN abnormal_day TEXT;

-- actor_role: the role of the actor of each transition (system, the person's own role, or the
-- staff member's role).
ALTER TABLE pass_status_history ADD COLUMN actor_role TEXT;

-- Existing holds: check-in holds were placed by the system; a staff hold by the role of whoever
-- placed it last, and by a school admin when that is unknown (the stricter reading).
UPDATE pass_status SET hold_by_role = 'system' WHERE status = 'hold' AND hold_kind <> 'admin';
UPDATE pass_status SET
    hold_by = (SELECT h.actor_id FROM pass_status_history h WHERE h.person_id = pass_status.person_id
               AND h.cause = 'hold_admin' ORDER BY h.id DESC LIMIT 1),
    hold_by_role = COALESCE((SELECT CASE p.role WHEN 'counsellor' THEN 'counsellor' ELSE 'school_admin' END
                             FROM pass_status_history h JOIN people p ON p.id = h.actor_id
                             WHERE h.person_id = pass_status.person_id AND h.cause = 'hold_admin'
                             ORDER BY h.id DESC LIMIT 1), 'school_admin')
    WHERE status = 'hold' AND hold_kind = 'admin';

-- abnormal_on_record: 1 once any answer of that day was abnormal (abnormal follows the latest
-- answers; this never goes back to 0).
ALTER TABLE checkins ADD COLUMN abnormal_on_record INTEGER NOT NULL DEFAULT 0;
UPDATE checkins SET abnormal_on_record = abnormal;
CREATE INDEX checkins_day_on_record ON checkins (day, abnormal_on_record);
UPDATE pass_status SET abnormal_day = (SELECT MAX(c.day) FROM checkins c
                                       WHERE c.person_id = pass_status.person_id AND c.abnormal = 1);

-- The answers a same-day edit replaced: the row of checkins keeps the latest answers, each
-- earlier one is copied here by the trigger below, in the same statement (so in the same
-- transaction as the edit). submitted_at: when that earlier answer was submitted.
CREATE TABLE checkin_revisions (
    id INTEGER PRIMARY KEY,
    checkin_id INTEGER NOT NULL REFERENCES checkins (id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    revision INTEGER NOT NULL,
    location_kind TEXT NOT NULL,
    region_code TEXT,
    temperature_c REAL NOT NULL,
    symptoms TEXT NOT NULL,
    case_contact_14d INTEGER NOT NULL,
    risk_area_14d INTEGER NOT NULL,
    case_status TEXT NOT NULL,
    remarks TEXT NOT NULL DEFAULT '',
    abnormal INTEGER NOT NULL,
    same_as_yesterday INTEGER NOT NULL,
    submitted_at INTEGER NOT NULL,
    UNIQUE (checkin_id, revision)
);
CREATE INDEX checkin_revisions_person_day ON checkin_revisions (person_id, day);

CREATE TRIGGER checkins_keep_replaced_answers BEFORE UPDATE OF revisions ON checkins
BEGIN
    INSERT INTO checkin_revisions (checkin_id, person_id, day, revision, location_kind, region_code,
        temperature_c, symptoms, case_contact_14d, risk_area_14d, case_status, remarks, abnormal,
        same_as_yesterday, submitted_at)
    VALUES (OLD.id, OLD.person_id, OLD.day, OLD.revisions, OLD.location_kind, OLD.region_code,
        OLD.temperature_c, OLD.symptoms, OLD.case_contact_14d, OLD.risk_area_14d, OLD.case_status,
        OLD.remarks, OLD.abnormal, OLD.same_as_yesterday, OLD.updated_at);
END;
