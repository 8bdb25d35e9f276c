-- The student lists carry each student's name: a student is an identity user, and the name
-- lives there. security_invoker: the reader's row-level security applies to both tables, so
-- a session sees its own organization's students only (none when pgkeel.org_id is unset).
CREATE VIEW student_directory WITH (security_invoker = true) AS
SELECT s.organization_id, s.id, s.student_number, s.grade_level, s.status, s.enrolled_on,
       s.created_at, s.updated_at, u.display_name AS name
FROM school.students AS s
JOIN identity.users AS u ON u.organization_id = s.organization_id AND u.id = s.id;
