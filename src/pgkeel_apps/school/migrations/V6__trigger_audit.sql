-- Trigger audit on every school table (what `pgkeel audit enable school.<table>` installs):
-- every INSERT, UPDATE and DELETE, from the service or from any other client, lands in
-- audit.audit_log with old and new rows, changed columns, actor and request id. A change
-- of updated_at alone is not an event.
SELECT audit.enable('school.students'::regclass, 'statement', '{}'::text[], '{updated_at}'::text[], 'organization_id');
SELECT audit.enable('school.courses'::regclass, 'statement', '{}'::text[], '{updated_at}'::text[], 'organization_id');
SELECT audit.enable('school.enrollments'::regclass, 'statement', '{}'::text[], '{updated_at}'::text[], 'organization_id');
SELECT audit.enable('school.class_sessions'::regclass, 'statement', '{}'::text[], '{}'::text[], 'organization_id');
SELECT audit.enable('school.attendances'::regclass, 'statement', '{}'::text[], '{updated_at}'::text[], 'organization_id');
SELECT audit.enable('school.parsed_student_feedback'::regclass, 'statement', '{}'::text[], '{}'::text[], 'organization_id');

-- The report's audit query, `SELECT * FROM audit_log WHERE table_name = 'students' AND
-- operation = 'UPDATE' ORDER BY changed_at DESC`, over the school tables' captured changes.
-- security_invoker: the reader's row-level security on audit.audit_log applies, so a
-- session sees only its own organization's changes.
CREATE VIEW audit_log WITH (security_invoker = true) AS
SELECT a.id, a.organization_id, split_part(a.entity_type, '.', 2) AS table_name,
       a.action AS operation, a.entity_id AS record_id, a.old_values, a.new_values,
       a.changed_fields, a.actor_id AS changed_by, a.request_id, a.created_at AS changed_at
FROM audit.audit_log AS a
WHERE a.entity_type IN ('school.students', 'school.courses', 'school.enrollments',
                        'school.class_sessions', 'school.attendances',
                        'school.parsed_student_feedback');
