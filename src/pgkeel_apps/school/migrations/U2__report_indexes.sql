-- pgkeel: transaction=off
DROP INDEX CONCURRENTLY IF EXISTS idx_feedback_student_date;
DROP INDEX CONCURRENTLY IF EXISTS idx_attendance_student_session;
DROP INDEX CONCURRENTLY IF EXISTS idx_parsed_feedback_student_id;
DROP INDEX CONCURRENTLY IF EXISTS idx_class_sessions_session_date;
DROP INDEX CONCURRENTLY IF EXISTS idx_attendances_created_at;
