-- student_metrics_mv: one row per student, the dashboards' numbers, refreshed CONCURRENTLY.
--
-- student_metrics_live is the definition, computed from the base tables on every read
-- (security_invoker: the reader's row-level security applies, so it shows only the reader's
-- school). The materialized view stores its result; its refresh runs as the view's owner.
--
-- A materialized view has no row-level security. So no service role may read it directly:
-- the grants on it are revoked below (and `pgkeel db roles` never grants one), and it is
-- reached only through student_metrics, a security-barrier view that returns the rows of the
-- organization in pgkeel.org_id (none when it is unset) together with the time of the last
-- refresh, so nobody mistakes stale numbers for live ones.
--
-- Attendance counts present and late as attended, absent as missed; excused sessions count
-- for neither. "Term" is the courses whose term contains the refresh date.
CREATE VIEW student_metrics_live WITH (security_invoker = true) AS
WITH attendance AS (
    SELECT a.organization_id, a.student_id,
           count(*) FILTER (WHERE a.status IN ('present', 'late')) AS attended,
           count(*) FILTER (WHERE a.status = 'absent') AS missed,
           count(*) FILTER (WHERE a.status IN ('present', 'late')
                              AND cs.session_date > current_date - 30) AS attended_30d,
           count(*) FILTER (WHERE a.status IN ('present', 'late', 'absent')
                              AND cs.session_date > current_date - 30) AS counted_30d,
           count(*) FILTER (WHERE a.status IN ('present', 'late')
                              AND current_date BETWEEN c.term_start AND c.term_end) AS attended_term,
           count(*) FILTER (WHERE a.status IN ('present', 'late', 'absent')
                              AND current_date BETWEEN c.term_start AND c.term_end) AS counted_term,
           max(cs.session_date) FILTER (WHERE a.status IN ('present', 'late')) AS last_attended_on
    FROM school.attendances AS a
    JOIN school.class_sessions AS cs
      ON cs.organization_id = a.organization_id AND cs.id = a.session_id
    JOIN school.courses AS c
      ON c.organization_id = cs.organization_id AND c.id = cs.course_id
    GROUP BY a.organization_id, a.student_id
), feedback AS (
    SELECT f.organization_id, f.student_id, count(*) AS feedback_count,
           avg(f.score) AS avg_score,
           avg(f.score) FILTER (WHERE f.parsed_at >= now() - interval '30 days') AS recent,
           avg(f.score) FILTER (WHERE f.parsed_at < now() - interval '30 days'
                                  AND f.parsed_at >= now() - interval '60 days') AS previous
    FROM school.parsed_student_feedback AS f
    GROUP BY f.organization_id, f.student_id
), enrolled AS (
    SELECT e.organization_id, e.student_id, count(*) AS active_enrollments
    FROM school.enrollments AS e
    WHERE e.status = 'active'
    GROUP BY e.organization_id, e.student_id
)
SELECT s.organization_id, s.id AS student_id, s.student_number, u.display_name AS name,
       s.grade_level, s.status,
       round(a.attended_30d::numeric / nullif(a.counted_30d, 0), 4) AS attendance_rate_30d,
       round(a.attended_term::numeric / nullif(a.counted_term, 0), 4) AS attendance_rate_term,
       coalesce(a.attended, 0) AS sessions_attended,
       coalesce(a.missed, 0) AS sessions_missed,
       a.last_attended_on,
       round(f.avg_score, 2) AS avg_feedback_score,
       round(f.recent - f.previous, 2) AS feedback_trend,
       coalesce(f.feedback_count, 0) AS feedback_count,
       coalesce(e.active_enrollments, 0) AS active_enrollments
FROM school.students AS s
JOIN identity.users AS u ON u.organization_id = s.organization_id AND u.id = s.id
LEFT JOIN attendance AS a ON a.organization_id = s.organization_id AND a.student_id = s.id
LEFT JOIN feedback AS f ON f.organization_id = s.organization_id AND f.student_id = s.id
LEFT JOIN enrolled AS e ON e.organization_id = s.organization_id AND e.student_id = s.id;

CREATE MATERIALIZED VIEW student_metrics_mv AS SELECT * FROM student_metrics_live;

-- The unique index REFRESH ... CONCURRENTLY needs; it also serves one school's rows. (The
-- view was created just above, in this transaction: nobody can be writing to it.)
-- pgkeel: lint-ignore PGK001
CREATE UNIQUE INDEX student_metrics_mv_key ON student_metrics_mv (organization_id, student_id);
-- The at-risk dashboard: a school's lowest 30-day attendance first.
-- pgkeel: lint-ignore PGK001
CREATE INDEX student_metrics_mv_rate_30d ON student_metrics_mv (organization_id, attendance_rate_30d);

CREATE TABLE metrics_refreshes (
    view_name    text PRIMARY KEY,
    refreshed_at timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    row_count    bigint NOT NULL,
    refreshed_by text NOT NULL
);

-- Refresh the view without blocking its readers and record when: as the view's owner
-- (SECURITY DEFINER), so the service role may call it without owning the view.
-- refreshed_at is when the refresh began: the data are as of that moment.
CREATE FUNCTION refresh_student_metrics()
RETURNS TABLE (refreshed_at timestamptz, duration_ms double precision, row_count bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_rows    bigint;
    v_ms      double precision;
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY school.student_metrics_mv;
    ANALYZE school.student_metrics_mv;   -- plans see the new contents
    SELECT count(*) INTO v_rows FROM school.student_metrics_mv;
    v_ms := extract(epoch FROM clock_timestamp() - v_started) * 1000;
    INSERT INTO school.metrics_refreshes AS r (view_name, refreshed_at, duration_ms, row_count,
                                               refreshed_by)
    VALUES ('student_metrics_mv', v_started, v_ms, v_rows, session_user)
    ON CONFLICT (view_name) DO UPDATE
        SET refreshed_at = EXCLUDED.refreshed_at, duration_ms = EXCLUDED.duration_ms,
            row_count = EXCLUDED.row_count, refreshed_by = EXCLUDED.refreshed_by;
    RETURN QUERY SELECT v_started, v_ms, v_rows;
END
$$;
REVOKE EXECUTE ON FUNCTION refresh_student_metrics() FROM PUBLIC;

CREATE VIEW student_metrics WITH (security_barrier = true) AS
SELECT m.*, r.refreshed_at AS metrics_refreshed_at
FROM school.student_metrics_mv AS m
LEFT JOIN school.metrics_refreshes AS r ON r.view_name = 'student_metrics_mv'
WHERE m.organization_id = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid);

-- Nobody but the owner reads the materialized view itself (default privileges granted it to
-- the service roles when it was created).
DO $$
DECLARE
    v_grantee regrole;
BEGIN
    FOR v_grantee IN
        SELECT DISTINCT acl.grantee::regrole
        FROM pg_catalog.pg_class AS c, aclexplode(c.relacl) AS acl
        WHERE c.oid = 'school.student_metrics_mv'::regclass
          AND acl.grantee <> c.relowner AND acl.grantee <> 0
    LOOP
        EXECUTE format('REVOKE ALL ON school.student_metrics_mv FROM %s', v_grantee);
    END LOOP;
    REVOKE ALL ON school.student_metrics_mv FROM PUBLIC;
END
$$;
