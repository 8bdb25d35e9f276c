-- pgkeel ops: `pgkeel advise`, index and table advice with the exact SQL to run (never run
-- by pgkeel). Rules: invalid indexes; unused indexes (no scan since the statistics were
-- reset, not unique, at least `unused_index_min_bytes`, PgHero: 10 MB); duplicate indexes
-- (PgHero's rule: another valid index on the table starts with the same columns, with the
-- same access method, expressions and predicate); foreign keys with no index starting with
-- their columns; tables read by many large sequential scans (at least `seq_scan_min_count`
-- scans reading `seq_scan_min_rows` rows each on average).

CREATE FUNCTION ops.advise(unused_index_min_bytes bigint DEFAULT 10 * 1024 * 1024,
                           seq_scan_min_rows bigint DEFAULT 10000,
                           seq_scan_min_count bigint DEFAULT 100)
RETURNS TABLE (kind text, object text, table_name text, reason text, sql text, details jsonb)
LANGUAGE sql STABLE AS $$
    WITH idx AS (
        SELECT i.indexrelid, i.indrelid, i.indisunique, i.indisprimary, i.indisexclusion,
               i.indisvalid, i.indexprs, i.indpred, ic.relam,
               string_to_array(i.indkey::text, ' ')::int2[] AS cols,
               format('%I.%I', n.nspname, ic.relname) AS index_name,
               format('%I.%I', n.nspname, tc.relname) AS table_name,
               pg_relation_size(i.indexrelid) AS bytes,
               pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class tc ON tc.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    ),
    since AS (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())
    SELECT 'invalid_index', x.index_name, x.table_name,
           'invalid (a CREATE INDEX CONCURRENTLY failed): writes maintain it, no read uses it',
           format('REINDEX INDEX CONCURRENTLY %s;', x.index_name),
           jsonb_build_object('definition', x.definition, 'bytes', x.bytes,
                              'alternative', format('DROP INDEX CONCURRENTLY %s;', x.index_name))
    FROM idx x
    WHERE NOT x.indisvalid
      AND NOT EXISTS (SELECT FROM pg_stat_progress_create_index p
                      WHERE p.index_relid = x.indexrelid OR p.relid = x.indrelid)
    UNION ALL
    SELECT 'duplicate_index', x.index_name, x.table_name,
           format('covered by %s, which starts with the same columns', y.index_name),
           format('DROP INDEX CONCURRENTLY %s;', x.index_name),
           jsonb_build_object('definition', x.definition, 'covered_by', y.index_name,
                              'covering_definition', y.definition, 'bytes', x.bytes)
    FROM idx x
    JOIN LATERAL (
        SELECT y.index_name, y.definition FROM idx y
        WHERE y.indrelid = x.indrelid AND y.indexrelid <> x.indexrelid AND y.indisvalid
          AND y.relam = x.relam
          AND y.cols[1:cardinality(x.cols)] = x.cols
          AND (cardinality(y.cols) > cardinality(x.cols) OR y.indisunique
               OR y.indexrelid < x.indexrelid)
          AND y.indexprs IS NOT DISTINCT FROM x.indexprs
          AND y.indpred IS NOT DISTINCT FROM x.indpred
        ORDER BY cardinality(y.cols) DESC, y.indisunique DESC, y.indexrelid LIMIT 1) y ON true
    WHERE x.indisvalid AND NOT x.indisunique AND NOT x.indisprimary
    UNION ALL
    SELECT 'unused_index', x.index_name, x.table_name,
           format('no scan since the statistics were reset (%s); %s',
                  coalesce((SELECT stats_reset::text FROM since), 'never reset'),
                  pg_size_pretty(x.bytes)),
           format('DROP INDEX CONCURRENTLY %s;', x.index_name),
           jsonb_build_object('definition', x.definition, 'bytes', x.bytes,
                              'stats_reset', (SELECT stats_reset FROM since))
    FROM idx x
    JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
    WHERE s.idx_scan = 0 AND x.indisvalid AND NOT x.indisunique AND NOT x.indisprimary
      AND NOT x.indisexclusion AND x.bytes >= unused_index_min_bytes
    UNION ALL
    SELECT 'foreign_key_without_index', format('%I', con.conname),
           format('%I.%I', n.nspname, t.relname),
           format('no index starts with (%s): deleting or updating a referenced %s row '
                  'scans the whole table', cols.names, ref.name),
           format('CREATE INDEX CONCURRENTLY ON %I.%I (%s);', n.nspname, t.relname, cols.names),
           jsonb_build_object('references', ref.name)
    FROM pg_constraint con
    JOIN pg_class t ON t.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    CROSS JOIN LATERAL (
        SELECT format('%I.%I', rn.nspname, r.relname) AS name
        FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE r.oid = con.confrelid) ref
    CROSS JOIN LATERAL (
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) AS names
        FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) cols
    WHERE con.contype = 'f'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND NOT EXISTS (
          SELECT FROM idx x
          WHERE x.indrelid = con.conrelid AND x.indisvalid AND x.indpred IS NULL
            AND x.cols[1:cardinality(con.conkey)] @> con.conkey
            AND x.cols[1:cardinality(con.conkey)] <@ con.conkey)
    UNION ALL
    SELECT 'sequential_scans', format('%I.%I', s.schemaname, s.relname),
           format('%I.%I', s.schemaname, s.relname),
           format('%s sequential scans reading %s rows each on average (%s index scans)',
                  s.seq_scan, s.seq_tup_read / s.seq_scan, coalesce(s.idx_scan, 0)),
           format('SELECT query, calls, mean_exec_time FROM pg_stat_statements'
                  ' WHERE query ~* %L ORDER BY total_exec_time DESC LIMIT 10;',
                  '\m' || s.relname || '\M'),
           jsonb_build_object('seq_scan', s.seq_scan, 'seq_tup_read', s.seq_tup_read,
                              'idx_scan', coalesce(s.idx_scan, 0), 'live_rows', s.n_live_tup)
    FROM pg_stat_user_tables s
    WHERE s.seq_scan >= greatest(seq_scan_min_count, 1)
      AND s.seq_tup_read / s.seq_scan >= seq_scan_min_rows
    ORDER BY 1, 3, 2
$$;
COMMENT ON FUNCTION ops.advise(bigint, bigint, bigint) IS
    'pgkeel advise: kind, object, table_name, reason, the SQL to run (never run), details';
