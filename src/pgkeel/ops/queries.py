"""The SQL `pgkeel.ops` runs: calls of the `ops` schema's functions (the logic lives there)."""

from __future__ import annotations

from typing import Final

CHECK_DATABASE_HEALTH: Final = (
    "SELECT check_name, state, value, message, details"
    " FROM ops.check_database_health(%s::jsonb)")
CHECK_REPLICATION: Final = (
    "SELECT check_name, state, value, message, details FROM ops.check_replication(%s::jsonb)")
TABLE_STATISTICS: Final = "SELECT * FROM ops.get_table_statistics()"
INDEX_USAGE: Final = "SELECT * FROM ops.get_index_usage_statistics()"
CACHE_HIT_RATIOS: Final = "SELECT * FROM ops.get_cache_hit_ratios()"
STATEMENTS_STATUS: Final = "SELECT ops.pg_stat_statements_status()"
SLOW_QUERIES: Final = "SELECT * FROM ops.get_slow_queries(%s, %s, %s)"
ADVISE: Final = (
    "SELECT kind, object, table_name, reason, sql, details FROM ops.advise(%s, %s, %s)")
ADVISE_SETTINGS: Final = (
    "SELECT kind, object, table_name, reason, sql, details FROM ops.advise_settings()")
ESTIMATE_BLOAT: Final = (
    "SELECT kind, object, table_name, reason, sql, details FROM ops.estimate_bloat(%s, %s)")
# Redis INFO fields the health check reads.
REDIS_INFO_SECTIONS: Final = ("memory", "stats")

# `pgkeel maintain`: the statements to run, and the jobs' shared schedule state.
ANALYZE_LIST: Final = "SELECT * FROM ops.analyze_all_tables(%s, %s, %s)"
VACUUM_LIST: Final = "SELECT * FROM ops.vacuum_all_tables(%s, %s, %s)"
REINDEX_LIST: Final = "SELECT * FROM ops.reindex_invalid_indexes(%s)"
RELATION_EXISTS: Final = "SELECT to_regclass(%s) IS NOT NULL"
TRY_LEADER_LOCK: Final = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
LEADER_ALIVE: Final = "SELECT 1"
REGISTER_JOB: Final = """
INSERT INTO ops.job_runs (name, every_s) VALUES (%(name)s, %(every_s)s)
ON CONFLICT (name) DO UPDATE SET every_s = EXCLUDED.every_s
WHERE ops.job_runs.every_s IS DISTINCT FROM EXCLUDED.every_s
"""
# Take the job when nobody runs it and (unless forced) it is due: one UPDATE, so two
# processes never both take it.
CLAIM_JOB: Final = """
UPDATE ops.job_runs
SET running_by = %(owner)s, running_until = now() + make_interval(secs => %(lease_s)s),
    last_started_at = now()
WHERE name = %(name)s
  AND (running_until IS NULL OR running_until < now())
  AND (%(force)s OR last_started_at IS NULL
       OR last_started_at + make_interval(secs => every_s) <= now())
RETURNING last_started_at
"""
JOB_STATE: Final = """
SELECT name, every_s, running_by, running_until, last_started_at, last_finished_at,
       last_status, last_result, last_error, last_duration_ms, runs, failures,
       CASE WHEN last_started_at IS NULL THEN now()
            ELSE last_started_at + make_interval(secs => every_s) END AS next_due_at,
       running_until IS NOT NULL AND running_until >= now() AS running
FROM ops.job_runs WHERE name = ANY(%s) ORDER BY name
"""
FINISH_JOB: Final = """
UPDATE ops.job_runs
SET running_by = NULL, running_until = NULL, last_finished_at = now(),
    last_status = %(status)s, last_result = %(result)s::jsonb, last_error = %(error)s,
    last_duration_ms = %(duration_ms)s, runs = runs + 1,
    failures = failures + (%(status)s = 'failed')::int
WHERE name = %(name)s AND running_by = %(owner)s
"""

# Backups: the snapshot pg_dump shares, the tables whose rows are counted, a database's name.
EXPORT_SNAPSHOT: Final = "SELECT pg_export_snapshot()"
BACKUP_TABLES: Final = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2
"""
DATABASE_EXISTS: Final = "SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)"
GENERATE_BACKUP_SCRIPT: Final = "SELECT ops.generate_backup_script(%s, %s)"
