DROP VIEW IF EXISTS audit_log;
SELECT audit.disable('school.parsed_student_feedback'::regclass);
SELECT audit.disable('school.attendances'::regclass);
SELECT audit.disable('school.class_sessions'::regclass);
SELECT audit.disable('school.enrollments'::regclass);
SELECT audit.disable('school.courses'::regclass);
SELECT audit.disable('school.students'::regclass);
