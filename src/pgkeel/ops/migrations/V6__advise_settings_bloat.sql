-- pgkeel ops: `pgkeel advise` on server settings and table bloat, same columns as ops.advise().
-- Nothing here runs the SQL it suggests.

-- Settings hints: each rule compares one setting with a value that suits most services.
-- ALTER SYSTEM needs a superuser; the change takes effect after pg_reload_conf() (or, for
-- shared_buffers, a restart).
CREATE FUNCTION ops.advise_settings()
RETURNS TABLE (kind text, object text, table_name text, reason text, sql text, details jsonb)
LANGUAGE sql STABLE AS $$
    WITH rules(name, bad, suggested, why, restart) AS (VALUES
        ('autovacuum', current_setting('autovacuum') = 'off', 'on',
         'autovacuum is off: dead rows pile up and transaction IDs are never frozen', false),
        ('track_io_timing', current_setting('track_io_timing') = 'off', 'on',
         'without it EXPLAIN (BUFFERS) and pg_stat_statements cannot tell I/O time from CPU', false),
        ('idle_in_transaction_session_timeout',
         current_setting('idle_in_transaction_session_timeout') IN ('0', '0ms'), '10min',
         'a client that forgets to commit holds its locks and holds back vacuum forever', false),
        ('log_min_duration_statement',
         current_setting('log_min_duration_statement') IN ('-1'), '1s',
         'slow statements are not logged, so they are found only while they run', false),
        ('log_lock_waits', current_setting('log_lock_waits') = 'off', 'on',
         'lock waits longer than deadlock_timeout are not logged', false),
        ('random_page_cost', current_setting('random_page_cost')::float8 >= 4, '1.1',
         'the default assumes spinning disks: on SSDs the planner avoids useful index scans', false),
        ('shared_buffers', pg_size_bytes(current_setting('shared_buffers')) <= 128 * 1024 * 1024,
         '25% of RAM', 'the 128 MB default is small for any production server', true),
        ('max_connections', current_setting('max_connections')::int > 500, '<= 500',
         'each connection costs memory and snapshot work: put a pooler (PgBouncer) in front', true)
    )
    SELECT 'setting', name, '', format('%s = %s: %s', name, current_setting(name), why),
           CASE WHEN suggested LIKE '%RAM%' OR suggested LIKE '<=%'
                THEN format('-- %s: set it to %s in postgresql.conf, then restart', name,
                            suggested)
                ELSE format('ALTER SYSTEM SET %I = %L; SELECT pg_reload_conf();', name,
                            suggested) END,
           jsonb_build_object('current', current_setting(name), 'suggested', suggested,
                              'needs_restart', restart)
    FROM rules WHERE bad
    ORDER BY name
$$;
COMMENT ON FUNCTION ops.advise_settings() IS
    'pgkeel advise: settings that differ from what suits most services, with the change';

-- Table bloat, estimated from the catalog (no table is read): the pages the live rows need at
-- their average width (pg_stats) and the table's fillfactor, against the pages it has.
CREATE FUNCTION ops.estimate_bloat(min_bytes bigint DEFAULT 10 * 1024 * 1024,
                                   min_ratio float8 DEFAULT 0.5)
RETURNS TABLE (kind text, object text, table_name text, reason text, sql text, details jsonb)
LANGUAGE sql STABLE AS $$
    WITH widths AS (
        SELECT s.schemaname, s.tablename, sum(s.avg_width)::float8 AS row_width
        FROM pg_stats s WHERE NOT s.inherited GROUP BY 1, 2
    ),
    sized AS (
        SELECT n.nspname, c.relname, c.relpages::bigint AS pages, c.reltuples,
               current_setting('block_size')::int AS block,
               coalesce((SELECT split_part(o, '=', 2)::int FROM unnest(c.reloptions) o
                         WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor,
               w.row_width
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN widths w ON w.schemaname = n.nspname AND w.tablename = c.relname
        WHERE c.relkind IN ('r', 'm') AND c.reltuples >= 0
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    ),
    estimated AS (
        SELECT *, greatest(1, ceil(reltuples * (24 + 4 + row_width)
                                   / ((block - 24) * fillfactor / 100.0)))::bigint AS needed
        FROM sized
    )
    SELECT 'bloat', format('%I.%I', nspname, relname), format('%I.%I', nspname, relname),
           format('about %s of %s is free space (%s%%): the live rows need %s pages of %s',
                  pg_size_pretty((pages - needed) * block), pg_size_pretty(pages * block),
                  round(100.0 * (pages - needed) / pages), needed, pages),
           format('VACUUM (FULL, ANALYZE) %I.%I; -- rewrites the table under an ACCESS '
                  'EXCLUSIVE lock: at a quiet time, or use pg_repack', nspname, relname),
           jsonb_build_object('bytes', pages * block, 'wasted_bytes', (pages - needed) * block,
                              'ratio', round((pages - needed)::numeric / pages, 3),
                              'estimated_rows', reltuples, 'row_width', row_width)
    FROM estimated
    WHERE pages > 0 AND (pages - needed) * block >= min_bytes
      AND (pages - needed)::float8 / pages >= min_ratio
    ORDER BY (pages - needed) DESC
$$;
COMMENT ON FUNCTION ops.estimate_bloat(bigint, float8) IS
    'pgkeel advise: tables whose free space, estimated from the catalog, exceeds the limits';
