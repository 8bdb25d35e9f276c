DROP TABLE IF EXISTS contact_activities;
DROP TABLE IF EXISTS contact_notes;
DROP TABLE IF EXISTS contact_submissions;
DROP FUNCTION IF EXISTS contact_submissions_transition();
DROP FUNCTION IF EXISTS lead_next_statuses(text);
DROP FUNCTION IF EXISTS contact_submissions_score();
DROP FUNCTION IF EXISTS lead_score(uuid, text, uuid, text, text, text);
