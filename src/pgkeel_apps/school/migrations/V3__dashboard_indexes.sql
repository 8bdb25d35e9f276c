-- pgkeel: transaction=off
-- What the dashboards' plans need beyond the report's indexes (tests/pgkeel_apps/school
-- checks each plan with EXPLAIN): a course's sessions by date (attendance per course per
-- week), a course's enrollments by status (roll call), and the list
-- endpoints' sorts (students by grade, enrollments by date, feedback by date).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_class_sessions_course_date ON class_sessions (organization_id, course_id, session_date);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_enrollments_course_status ON enrollments (organization_id, course_id, status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_students_grade_number ON students (organization_id, grade_level, student_number);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_enrollments_enrolled_at ON enrollments (organization_id, enrolled_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_feedback_parsed_at ON parsed_student_feedback (organization_id, parsed_at);
