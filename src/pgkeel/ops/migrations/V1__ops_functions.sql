-- pgkeel ops: the statistics and health functions behind `pgkeel health` and `pgkeel stats`.
--
-- The CLI and the library call these functions, so psql users get the same answers. Every
-- function is SECURITY INVOKER: it sees what the caller may see (pg_read_all_stats shows
-- other roles' sessions). Session checks look at the current database only; the connection
-- count is server-wide because max_connections is.

CREATE FUNCTION ops.get_table_statistics()
RETURNS TABLE (schema_name text, table_name text, total_bytes bigint, table_bytes bigint,
               index_bytes bigint, live_rows bigint, dead_rows bigint, dead_ratio float8,
               seq_scan bigint, idx_scan bigint, last_vacuum timestamptz,
               last_analyze timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.schemaname::text, s.relname::text,
           pg_total_relation_size(s.relid), pg_table_size(s.relid), pg_indexes_size(s.relid),
           s.n_live_tup, s.n_dead_tup,
           CASE WHEN s.n_live_tup + s.n_dead_tup = 0 THEN 0.0
                ELSE s.n_dead_tup::float8 / (s.n_live_tup + s.n_dead_tup) END,
           s.seq_scan, coalesce(s.idx_scan, 0),
           greatest(s.last_vacuum, s.last_autovacuum),
           greatest(s.last_analyze, s.last_autoanalyze)
    FROM pg_stat_user_tables s
    ORDER BY pg_total_relation_size(s.relid) DESC, s.schemaname, s.relname
$$;
COMMENT ON FUNCTION ops.get_table_statistics() IS
    'Per table: sizes, live and dead rows, scans, last (auto)vacuum and (auto)analyze';

CREATE FUNCTION ops.get_index_usage_statistics()
RETURNS TABLE (schema_name text, table_name text, index_name text, index_bytes bigint,
               idx_scan bigint, idx_tup_read bigint, is_unique boolean, is_primary boolean,
               is_valid boolean, definition text)
LANGUAGE sql STABLE AS $$
    SELECT s.schemaname::text, s.relname::text, s.indexrelname::text,
           pg_relation_size(s.indexrelid), s.idx_scan, s.idx_tup_read,
           i.indisunique, i.indisprimary, i.indisvalid, pg_get_indexdef(s.indexrelid)
    FROM pg_stat_user_indexes s
    JOIN pg_index i ON i.indexrelid = s.indexrelid
    ORDER BY s.idx_scan, pg_relation_size(s.indexrelid) DESC, s.schemaname, s.indexrelname
$$;
COMMENT ON FUNCTION ops.get_index_usage_statistics() IS
    'Per index: size, scans (least used first), unique / primary / valid, definition';

CREATE FUNCTION ops.get_cache_hit_ratios()
RETURNS TABLE (kind text, hits bigint, reads bigint, ratio float8)
LANGUAGE sql STABLE AS $$
    WITH counts(kind, hits, reads) AS (
        SELECT 'table', coalesce(sum(heap_blks_hit), 0)::bigint,
               coalesce(sum(heap_blks_read), 0)::bigint
        FROM pg_statio_user_tables
        UNION ALL
        SELECT 'index', coalesce(sum(idx_blks_hit), 0)::bigint,
               coalesce(sum(idx_blks_read), 0)::bigint
        FROM pg_statio_user_indexes
    )
    SELECT kind, hits, reads,
           CASE WHEN hits + reads = 0 THEN NULL ELSE hits::float8 / (hits + reads) END
    FROM counts
$$;
COMMENT ON FUNCTION ops.get_cache_hit_ratios() IS
    'Shared-buffer hit ratio of user tables and of their indexes (NULL: no block read yet)';

-- 'ready', 'not_available' (not shipped with the server), 'not_created' (CREATE EXTENSION
-- not run in this database) or 'not_loaded' (missing from shared_preload_libraries).
CREATE FUNCTION ops.pg_stat_statements_status()
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';
    IF ext_schema IS NULL THEN
        IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_stat_statements') THEN
            RETURN 'not_created';
        END IF;
        RETURN 'not_available';
    END IF;
    BEGIN
        EXECUTE format('SELECT 1 FROM %I.pg_stat_statements LIMIT 1', ext_schema);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RETURN 'not_loaded';
    END;
    RETURN 'ready';
END
$$;

-- The statements of this database with at least `min_calls` calls and a mean time of at
-- least `min_mean_ms` (PgHero: 100 calls, 20 ms), slowest total first. Without a usable
-- pg_stat_statements: no rows, and a NOTICE that says why.
CREATE FUNCTION ops.get_slow_queries(min_mean_ms float8 DEFAULT 20, min_calls bigint DEFAULT 100,
                                     max_rows integer DEFAULT 20)
RETURNS TABLE (queryid bigint, query text, calls bigint, total_ms float8, mean_ms float8,
               rows bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    status text := ops.pg_stat_statements_status();
    ext_schema text;
BEGIN
    IF status <> 'ready' THEN
        RAISE NOTICE 'pg_stat_statements is %: add it to shared_preload_libraries, restart, '
                     'then run CREATE EXTENSION pg_stat_statements', status;
        RETURN;
    END IF;
    SELECT n.nspname INTO ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';
    RETURN QUERY EXECUTE format(
        'SELECT s.queryid, s.query, s.calls,
                s.total_plan_time + s.total_exec_time,
                (s.total_plan_time + s.total_exec_time) / s.calls,
                s.rows
         FROM %I.pg_stat_statements s
         JOIN pg_database d ON d.oid = s.dbid AND d.datname = current_database()
         WHERE s.calls >= $1
           AND (s.total_plan_time + s.total_exec_time) / s.calls >= $2
         ORDER BY 4 DESC LIMIT $3', ext_schema)
        USING min_calls, min_mean_ms, max_rows;
END
$$;

-- OK / WARN / CRIT of `value` against two limits; `lower_is_worse` for ratios and headroom.
CREATE FUNCTION ops._state(value float8, warn float8, crit float8,
                           lower_is_worse boolean DEFAULT false)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN value IS NULL THEN 'OK'
        WHEN lower_is_worse AND value < crit THEN 'CRIT'
        WHEN lower_is_worse AND value < warn THEN 'WARN'
        WHEN NOT lower_is_worse AND value >= crit THEN 'CRIT'
        WHEN NOT lower_is_worse AND value >= warn THEN 'WARN'
        ELSE 'OK' END
$$;

-- The default thresholds of check_database_health: the same as the OPS_* settings' defaults
-- (keys are the settings' names without `ops_`; a test keeps the two equal).
CREATE FUNCTION ops.default_thresholds()
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'connections_warn_pct', 80, 'connections_crit_pct', 95,
        'long_query_warn_s', 60, 'long_query_crit_s', 300,
        'long_transaction_warn_s', 600, 'long_transaction_crit_s', 3600,
        'idle_in_transaction_warn_s', 60, 'idle_in_transaction_crit_s', 600,
        'blocked_query_warn_s', 5, 'blocked_query_crit_s', 60,
        'xid_left_warn', 1500000000, 'xid_left_crit', 100000000,
        'sequence_warn_pct', 90, 'sequence_crit_pct', 98,
        'cache_hit_warn_pct', 99, 'cache_hit_crit_pct', 90, 'cache_hit_min_blocks', 1000)
$$;

-- Every database-side health check, one row each. `thresholds` overrides any of
-- ops.default_thresholds().
CREATE FUNCTION ops.check_database_health(thresholds jsonb DEFAULT '{}')
RETURNS TABLE (check_name text, state text, value float8, message text, details jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t jsonb := ops.default_thresholds() || coalesce(thresholds, '{}');
    n bigint;
    v float8;
    d jsonb;
BEGIN
    -- Client connections against what non-superusers may open.
    SELECT count(*) INTO n FROM pg_stat_activity WHERE backend_type = 'client backend';
    v := 100.0 * n / greatest(1, current_setting('max_connections')::int
                                 - current_setting('superuser_reserved_connections')::int);
    check_name := 'connections'; value := round(v::numeric, 1);
    state := ops._state(v, (t->>'connections_warn_pct')::float8,
                        (t->>'connections_crit_pct')::float8);
    message := format('%s client connections, %s%% of max_connections (%s) less %s reserved',
                      n, round(v::numeric, 1), current_setting('max_connections'),
                      current_setting('superuser_reserved_connections'));
    details := jsonb_build_object('connections', n);
    RETURN NEXT;

    -- Statements running for long, sessions idle in a transaction, transactions held open.
    SELECT max(extract(epoch FROM now() - a.query_start)),
           coalesce(jsonb_agg(jsonb_build_object(
               'pid', a.pid, 'seconds', round(extract(epoch FROM now() - a.query_start), 1),
               'query', left(a.query, 200))
               ORDER BY a.query_start) FILTER (
               WHERE now() - a.query_start
                     >= make_interval(secs => (t->>'long_query_warn_s')::float8)), '[]')
      INTO v, d
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND a.backend_type = 'client backend' AND a.state = 'active';
    check_name := 'long_running_queries'; value := round(coalesce(v, 0)::numeric, 1);
    state := ops._state(v, (t->>'long_query_warn_s')::float8, (t->>'long_query_crit_s')::float8);
    message := format('%s statements running longer than %s s (longest %s s)',
                      jsonb_array_length(d), t->>'long_query_warn_s', value);
    details := jsonb_build_object('sessions', d);
    RETURN NEXT;

    SELECT max(extract(epoch FROM now() - a.state_change)),
           coalesce(jsonb_agg(jsonb_build_object(
               'pid', a.pid, 'seconds', round(extract(epoch FROM now() - a.state_change), 1),
               'usename', a.usename, 'application_name', a.application_name,
               'query', left(a.query, 200))
               ORDER BY a.state_change) FILTER (
               WHERE now() - a.state_change
                     >= make_interval(secs => (t->>'idle_in_transaction_warn_s')::float8)), '[]')
      INTO v, d
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND a.state IN ('idle in transaction', 'idle in transaction (aborted)');
    check_name := 'idle_in_transaction'; value := round(coalesce(v, 0)::numeric, 1);
    state := ops._state(v, (t->>'idle_in_transaction_warn_s')::float8,
                        (t->>'idle_in_transaction_crit_s')::float8);
    message := format('%s sessions idle in a transaction longer than %s s (longest %s s)',
                      jsonb_array_length(d), t->>'idle_in_transaction_warn_s', value);
    details := jsonb_build_object('sessions', d);
    RETURN NEXT;

    SELECT max(extract(epoch FROM now() - a.xact_start)),
           coalesce(jsonb_agg(jsonb_build_object(
               'pid', a.pid, 'seconds', round(extract(epoch FROM now() - a.xact_start), 1),
               'state', a.state, 'query', left(a.query, 200))
               ORDER BY a.xact_start) FILTER (
               WHERE now() - a.xact_start
                     >= make_interval(secs => (t->>'long_transaction_warn_s')::float8)), '[]')
      INTO v, d
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL;
    check_name := 'long_transactions'; value := round(coalesce(v, 0)::numeric, 1);
    state := ops._state(v, (t->>'long_transaction_warn_s')::float8,
                        (t->>'long_transaction_crit_s')::float8);
    message := format('%s transactions open longer than %s s (oldest %s s)',
                      jsonb_array_length(d), t->>'long_transaction_warn_s', value);
    details := jsonb_build_object('sessions', d);
    RETURN NEXT;

    -- Sessions waiting for a lock another session holds (pg_blocking_pids sees queue order).
    SELECT max(extract(epoch FROM now() - a.state_change)),
           coalesce(jsonb_agg(jsonb_build_object(
               'pid', a.pid, 'blocked_by', pg_blocking_pids(a.pid),
               'seconds', round(extract(epoch FROM now() - a.state_change), 1),
               'query', left(a.query, 200)) ORDER BY a.state_change), '[]')
      INTO v, d
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND cardinality(pg_blocking_pids(a.pid)) > 0;
    check_name := 'blocked_queries'; value := round(coalesce(v, 0)::numeric, 1);
    state := ops._state(v, (t->>'blocked_query_warn_s')::float8,
                        (t->>'blocked_query_crit_s')::float8);
    message := format('%s sessions waiting for a lock (longest %s s)', jsonb_array_length(d),
                      value);
    details := jsonb_build_object('sessions', d);
    RETURN NEXT;

    -- Transaction-ID wraparound: transactions left before the server must stop (PgHero).
    SELECT min(2146483648 - greatest(age(c.relfrozenxid), age(tc.relfrozenxid))),
           coalesce(jsonb_agg(jsonb_build_object(
               'table', format('%I.%I', nsp.nspname, c.relname),
               'transactions_left',
               2146483648 - greatest(age(c.relfrozenxid), age(tc.relfrozenxid)),
               'sql', format('VACUUM (FREEZE, VERBOSE) %I.%I', nsp.nspname, c.relname)))
               FILTER (WHERE 2146483648 - greatest(age(c.relfrozenxid), age(tc.relfrozenxid))
                             < (t->>'xid_left_warn')::float8), '[]')
      INTO v, d
    FROM pg_class c
    JOIN pg_namespace nsp ON nsp.oid = c.relnamespace
    LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
    WHERE c.relkind IN ('r', 'm');
    check_name := 'xid_wraparound'; value := v;
    state := ops._state(v, (t->>'xid_left_warn')::float8, (t->>'xid_left_crit')::float8, true);
    message := format('%s transaction IDs left before wraparound on the oldest table; '
                      '%s tables under %s', v, jsonb_array_length(d), t->>'xid_left_warn');
    details := jsonb_build_object('tables', d);
    RETURN NEXT;

    -- Sequences against the largest value their column (or else the sequence) can hold.
    WITH used AS (
        SELECT s.schemaname, s.sequencename, s.last_value,
               least(s.max_value, CASE col.atttypid WHEN 'int2'::regtype THEN 32767
                                                    WHEN 'int4'::regtype THEN 2147483647
                                                    ELSE 9223372036854775807 END) AS max_value,
               format('%I.%I', tn.nspname, tab.relname) || '.' || quote_ident(col.attname)
                   AS used_by
        FROM pg_sequences s
        JOIN pg_class sc ON sc.relname = s.sequencename
        JOIN pg_namespace sn ON sn.oid = sc.relnamespace AND sn.nspname = s.schemaname
        LEFT JOIN pg_depend dep ON dep.objid = sc.oid AND dep.classid = 'pg_class'::regclass
             AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
        LEFT JOIN pg_attribute col ON col.attrelid = dep.refobjid
             AND col.attnum = dep.refobjsubid
        LEFT JOIN pg_class tab ON tab.oid = dep.refobjid
        LEFT JOIN pg_namespace tn ON tn.oid = tab.relnamespace
        WHERE s.last_value IS NOT NULL
    )
    SELECT max(100.0 * last_value / max_value),
           coalesce(jsonb_agg(jsonb_build_object(
               'sequence', format('%I.%I', schemaname, sequencename), 'column', used_by,
               'last_value', last_value, 'max_value', max_value,
               'pct', round(100.0 * last_value / max_value, 2))
               ORDER BY 100.0 * last_value / max_value DESC)
               FILTER (WHERE 100.0 * last_value / max_value
                             >= (t->>'sequence_warn_pct')::float8), '[]')
      INTO v, d
    FROM used;
    check_name := 'sequences'; value := round(coalesce(v, 0)::numeric, 2);
    state := ops._state(v, (t->>'sequence_warn_pct')::float8, (t->>'sequence_crit_pct')::float8);
    message := format('%s sequences at or over %s%% of their maximum (fullest %s%%)',
                      jsonb_array_length(d), t->>'sequence_warn_pct', value);
    details := jsonb_build_object('sequences', d);
    RETURN NEXT;

    -- Indexes left invalid by a failed CREATE INDEX CONCURRENTLY (ones being built now skipped).
    SELECT count(*), coalesce(jsonb_agg(jsonb_build_object(
               'index', format('%I.%I', n2.nspname, ic.relname),
               'sql', format('REINDEX INDEX CONCURRENTLY %I.%I', n2.nspname, ic.relname))
               ORDER BY n2.nspname, ic.relname), '[]')
      INTO n, d
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n2 ON n2.oid = ic.relnamespace
    WHERE NOT i.indisvalid
      AND NOT EXISTS (SELECT FROM pg_stat_progress_create_index p
                      WHERE p.index_relid = i.indexrelid OR p.relid = i.indrelid);
    check_name := 'invalid_indexes'; value := n;
    state := CASE WHEN n > 0 THEN 'WARN' ELSE 'OK' END;
    message := format('%s invalid indexes', n);
    details := jsonb_build_object('indexes', d);
    RETURN NEXT;

    SELECT count(*), coalesce(jsonb_agg(jsonb_build_object(
               'constraint', con.conname, 'table', con.conrelid::regclass::text,
               'sql', format('ALTER TABLE %s VALIDATE CONSTRAINT %I',
                             con.conrelid::regclass, con.conname))
               ORDER BY con.conrelid::regclass::text, con.conname), '[]')
      INTO n, d
    FROM pg_constraint con
    WHERE NOT con.convalidated AND con.conrelid <> 0;
    check_name := 'invalid_constraints'; value := n;
    state := CASE WHEN n > 0 THEN 'WARN' ELSE 'OK' END;
    message := format('%s constraints not validated (NOT VALID)', n);
    details := jsonb_build_object('constraints', d);
    RETURN NEXT;

    -- Cache hit ratio: the lower of tables and indexes, once enough blocks were touched.
    SELECT min(100.0 * r.ratio) FILTER (
               WHERE r.hits + r.reads >= (t->>'cache_hit_min_blocks')::bigint),
           jsonb_object_agg(r.kind, jsonb_build_object(
               'hits', r.hits, 'reads', r.reads, 'pct', round((100.0 * r.ratio)::numeric, 2)))
      INTO v, d
    FROM ops.get_cache_hit_ratios() r;
    check_name := 'cache_hit_ratio'; value := round(v::numeric, 2);
    state := ops._state(v, (t->>'cache_hit_warn_pct')::float8,
                        (t->>'cache_hit_crit_pct')::float8, true);
    message := CASE WHEN v IS NULL
        THEN format('fewer than %s blocks touched yet: no ratio', t->>'cache_hit_min_blocks')
        ELSE format('%s%% of blocks found in shared buffers (lower of tables and indexes)',
                    value) END;
    details := d;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ops.check_database_health(jsonb) IS
    'pgkeel health''s database checks: check_name, OK/WARN/CRIT, value, message, details';
