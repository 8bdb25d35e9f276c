-- pgkeel ops: `pgkeel maintain`. Which tables need ANALYZE or VACUUM (the same rule as
-- autovacuum's, with the caller's limits), which invalid indexes can be rebuilt, and the
-- schedule state of every maintenance job, shared by every process that runs them.
--
-- VACUUM and REINDEX CONCURRENTLY cannot run inside a function, so these functions return
-- the statements (one per row); `pgkeel maintain` runs each in its own short transaction
-- under a lock_timeout, and psql runs them with `\gexec`.

-- Tables with at least `min_changed_rows + scale * rows` rows changed since their last
-- (auto)analyze, or never analyzed and not empty. `only_schema` limits it to one schema.
CREATE FUNCTION ops.analyze_all_tables(min_changed_rows bigint DEFAULT 50,
                                       scale float8 DEFAULT 0.1,
                                       only_schema text DEFAULT NULL)
RETURNS TABLE (schema_name text, table_name text, reason text, sql text)
LANGUAGE sql STABLE AS $$
    SELECT s.schemaname::text, s.relname::text,
           format('%s rows changed since the last analyze (%s rows)',
                  s.n_mod_since_analyze, s.n_live_tup),
           format('ANALYZE %I.%I', s.schemaname, s.relname)
    FROM pg_stat_user_tables s
    WHERE (only_schema IS NULL OR s.schemaname = only_schema)
      AND s.n_mod_since_analyze >= min_changed_rows + scale * s.n_live_tup
    ORDER BY s.n_mod_since_analyze DESC, s.schemaname, s.relname
$$;
COMMENT ON FUNCTION ops.analyze_all_tables(bigint, float8, text) IS
    'The ANALYZE statements for tables changed enough since their last analyze (run with \gexec)';

-- Tables with at least `min_dead_rows + scale * rows` dead rows. TRUNCATE false: the final
-- truncation of empty pages needs an ACCESS EXCLUSIVE lock, which would stop writers.
CREATE FUNCTION ops.vacuum_all_tables(min_dead_rows bigint DEFAULT 50, scale float8 DEFAULT 0.2,
                                      only_schema text DEFAULT NULL)
RETURNS TABLE (schema_name text, table_name text, reason text, sql text)
LANGUAGE sql STABLE AS $$
    SELECT s.schemaname::text, s.relname::text,
           format('%s dead rows (%s live)', s.n_dead_tup, s.n_live_tup),
           format('VACUUM (ANALYZE, TRUNCATE false) %I.%I', s.schemaname, s.relname)
    FROM pg_stat_user_tables s
    WHERE (only_schema IS NULL OR s.schemaname = only_schema)
      AND s.n_dead_tup >= min_dead_rows + scale * s.n_live_tup
    ORDER BY s.n_dead_tup DESC, s.schemaname, s.relname
$$;
COMMENT ON FUNCTION ops.vacuum_all_tables(bigint, float8, text) IS
    'The VACUUM statements for tables with enough dead rows (run with \gexec)';

-- Invalid indexes not being built right now: the leftovers of a failed REINDEX CONCURRENTLY
-- (names ending in _ccnew or _ccold, copies of a valid index) are dropped, others rebuilt.
CREATE FUNCTION ops.reindex_invalid_indexes(only_schema text DEFAULT NULL)
RETURNS TABLE (schema_name text, index_name text, reason text, sql text)
LANGUAGE sql STABLE AS $$
    SELECT n.nspname::text, ic.relname::text,
           CASE WHEN ic.relname ~ '_cc(new|old)[0-9]*$'
                THEN 'left over by a failed REINDEX CONCURRENTLY'
                ELSE 'invalid: a CREATE INDEX CONCURRENTLY failed' END,
           CASE WHEN ic.relname ~ '_cc(new|old)[0-9]*$'
                THEN format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', n.nspname, ic.relname)
                ELSE format('REINDEX INDEX CONCURRENTLY %I.%I', n.nspname, ic.relname) END
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = ic.relnamespace
    WHERE NOT i.indisvalid
      AND (only_schema IS NULL OR n.nspname = only_schema)
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND NOT EXISTS (SELECT FROM pg_stat_progress_create_index p
                      WHERE p.index_relid = i.indexrelid OR p.relid = i.indrelid)
    ORDER BY n.nspname, ic.relname
$$;
COMMENT ON FUNCTION ops.reindex_invalid_indexes(text) IS
    'REINDEX (or DROP, for REINDEX CONCURRENTLY leftovers) of invalid indexes (run with \gexec)';

-- One row per maintenance job ever scheduled: when it last started and finished, how it
-- ended, and who runs it now (`running_until` is the lease of the run in progress).
CREATE TABLE ops.job_runs (
    name             text PRIMARY KEY,
    every_s          float8 NOT NULL CHECK (every_s >= 0),
    running_by       text,
    running_until    timestamptz,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_status      text CHECK (last_status IN ('ok', 'failed', 'lock_timeout', 'skipped')),
    last_result      jsonb,
    last_error       text,
    last_duration_ms float8,
    runs             bigint NOT NULL DEFAULT 0,
    failures         bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE ops.job_runs IS
    'pgkeel maintain: the schedule state of each job, shared by every process running them';
