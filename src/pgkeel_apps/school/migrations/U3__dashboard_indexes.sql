-- pgkeel: transaction=off
DROP INDEX CONCURRENTLY IF EXISTS idx_feedback_parsed_at;
DROP INDEX CONCURRENTLY IF EXISTS idx_enrollments_enrolled_at;
DROP INDEX CONCURRENTLY IF EXISTS idx_students_grade_number;
DROP INDEX CONCURRENTLY IF EXISTS idx_enrollments_course_status;
DROP INDEX CONCURRENTLY IF EXISTS idx_class_sessions_course_date;
