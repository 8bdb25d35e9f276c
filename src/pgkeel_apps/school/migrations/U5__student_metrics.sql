DROP VIEW IF EXISTS student_metrics;
DROP FUNCTION IF EXISTS refresh_student_metrics();
DROP TABLE IF EXISTS metrics_refreshes;
DROP MATERIALIZED VIEW IF EXISTS student_metrics_mv;
DROP VIEW IF EXISTS student_metrics_live;
