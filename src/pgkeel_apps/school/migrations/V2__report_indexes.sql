-- pgkeel: transaction=off
-- The report's five indexes, by name, each led by the tenant column (every query carries it).
-- idx_parsed_feedback_student_id is a prefix of idx_feedback_student_date and so redundant
-- for every query here; it is kept because the report names it (`pgkeel advise` lists it).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_attendances_created_at ON attendances (organization_id, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_class_sessions_session_date ON class_sessions (organization_id, session_date);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_parsed_feedback_student_id ON parsed_student_feedback (organization_id, student_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_attendance_student_session ON attendances (organization_id, student_id, session_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_feedback_student_date ON parsed_student_feedback (organization_id, student_id, parsed_at DESC);
