-- pgkeel audit, part 3: trigger capture for any table (`pgkeel audit enable TABLE`).
--
-- Old and new rows as JSONB, the changed columns, and the actor / organization / request id
-- from the transaction context (`pgkeel.*` settings), so bulk SQL the application never sees
-- is audited too. Statement-level triggers with transition tables write one INSERT ... SELECT
-- per statement (fast for bulk changes); row-level triggers are used for partitioned tables
-- and partitions, where statement triggers would miss DML aimed at a single partition.

CREATE TABLE audit.tracked_tables (
    relid       regclass PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('statement', 'row')),
    pk_columns  text[] NOT NULL,
    excluded    text[] NOT NULL DEFAULT '{}',
    ignored     text[] NOT NULL DEFAULT '{}',
    org_column  text,
    enabled_by  text NOT NULL DEFAULT current_user,
    enabled_at  timestamptz NOT NULL DEFAULT now()
);

-- Trigger arguments: primary key columns, excluded columns (never stored, but still listed
-- in changed_fields), ignored columns (a change to them alone is not audited), the column
-- holding the row's organization ('' = use pgkeel.org_id), and the entity type recorded
-- (the audited table's schema.name, also for rows that land in one of its partitions).
CREATE FUNCTION audit.capture_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v_pk       text[] := TG_ARGV[0]::text[];
    v_excluded text[] := TG_ARGV[1]::text[];
    v_ignored  text[] := TG_ARGV[2]::text[];
    v_org_col  text := nullif(TG_ARGV[3], '');
    v_org      text := nullif(current_setting('pgkeel.org_id', true), '');
    v_actor    text := nullif(current_setting('pgkeel.actor_id', true), '');
    v_request  text := nullif(current_setting('pgkeel.request_id', true), '');
    v_entity   text := TG_ARGV[4];
    v_meta     jsonb := jsonb_build_object('source', 'trigger', 'db_user', session_user);
    v_single   boolean := cardinality(TG_ARGV[0]::text[]) = 1;   -- inline the common case
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                                     new_values, changed_fields, metadata, request_id)
        SELECT coalesce(r.j ->> v_org_col, v_org), v_actor, 'INSERT', v_entity, key.id,
               r.j - v_excluded,
               ARRAY(SELECT k FROM jsonb_object_keys(r.j) AS k
                     WHERE k <> ALL (v_ignored) ORDER BY k),
               v_meta, v_request
        FROM (SELECT to_jsonb(t) AS j FROM new_rows AS t) AS r
        CROSS JOIN LATERAL (
            SELECT CASE WHEN v_single THEN r.j ->> v_pk[1]
                        ELSE (SELECT jsonb_agg(r.j -> u.col ORDER BY u.ord)
                              FROM unnest(v_pk) WITH ORDINALITY AS u(col, ord))::text
                   END AS id) AS key;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                                     old_values, changed_fields, metadata, request_id)
        SELECT coalesce(r.j ->> v_org_col, v_org), v_actor, 'DELETE', v_entity, key.id,
               r.j - v_excluded,
               ARRAY(SELECT k FROM jsonb_object_keys(r.j) AS k
                     WHERE k <> ALL (v_ignored) ORDER BY k),
               v_meta, v_request
        FROM (SELECT to_jsonb(t) AS j FROM old_rows AS t) AS r
        CROSS JOIN LATERAL (
            SELECT CASE WHEN v_single THEN r.j ->> v_pk[1]
                        ELSE (SELECT jsonb_agg(r.j -> u.col ORDER BY u.ord)
                              FROM unnest(v_pk) WITH ORDINALITY AS u(col, ord))::text
                   END AS id) AS key;
    ELSE
        -- Old and new versions are paired by primary key. Rows whose key itself changed are
        -- paired in statement order (PostgreSQL appends each row's old and new versions to
        -- the transition tables together).
        INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                                     old_values, new_values, changed_fields, metadata,
                                     request_id)
        SELECT coalesce(p.nj ->> v_org_col, v_org), v_actor, 'UPDATE', v_entity, p.nk,
               p.oj - v_excluded, p.nj - v_excluded, p.changed, v_meta, v_request
        FROM (
            SELECT pairs.ord, pairs.oj, pairs.nj, pairs.nk, diff.changed
            FROM (
                WITH ok AS MATERIALIZED (
                         SELECT o.rn, o.j, key.id AS k
                         FROM (SELECT row_number() OVER () AS rn, to_jsonb(t) AS j
                               FROM old_rows AS t) AS o
                         CROSS JOIN LATERAL (
                             SELECT CASE WHEN v_single THEN o.j ->> v_pk[1]
                                         ELSE (SELECT jsonb_agg(o.j -> u.col ORDER BY u.ord)
                                               FROM unnest(v_pk) WITH ORDINALITY AS u(col, ord))::text
                                    END AS id) AS key),
                     nk AS MATERIALIZED (
                         SELECT n.rn, n.j, key.id AS k
                         FROM (SELECT row_number() OVER () AS rn, to_jsonb(t) AS j
                               FROM new_rows AS t) AS n
                         CROSS JOIN LATERAL (
                             SELECT CASE WHEN v_single THEN n.j ->> v_pk[1]
                                         ELSE (SELECT jsonb_agg(n.j -> u.col ORDER BY u.ord)
                                               FROM unnest(v_pk) WITH ORDINALITY AS u(col, ord))::text
                                    END AS id) AS key),
                     lone_old AS (SELECT row_number() OVER (ORDER BY ok.rn) AS r, ok.rn, ok.j
                                  FROM ok WHERE NOT EXISTS (SELECT FROM nk WHERE nk.k = ok.k)),
                     lone_new AS (SELECT row_number() OVER (ORDER BY nk.rn) AS r, nk.j, nk.k
                                  FROM nk WHERE NOT EXISTS (SELECT FROM ok WHERE ok.k = nk.k))
                SELECT ok.rn AS ord, ok.j AS oj, nk.j AS nj, nk.k AS nk
                FROM ok JOIN nk ON nk.k = ok.k
                UNION ALL
                SELECT lone_old.rn, lone_old.j, lone_new.j, lone_new.k
                FROM lone_old JOIN lone_new ON lone_new.r = lone_old.r
            ) AS pairs
            CROSS JOIN LATERAL (
                SELECT ARRAY(SELECT e.key FROM jsonb_each(pairs.nj) AS e
                             WHERE e.value IS DISTINCT FROM pairs.oj -> e.key
                               AND e.key <> ALL (v_ignored)
                             ORDER BY e.key) AS changed
                OFFSET 0
            ) AS diff
        ) AS p
        WHERE cardinality(p.changed) > 0
        ORDER BY p.ord;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION audit.capture_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v_pk       text[] := TG_ARGV[0]::text[];
    v_excluded text[] := TG_ARGV[1]::text[];
    v_ignored  text[] := TG_ARGV[2]::text[];
    v_org_col  text := nullif(TG_ARGV[3], '');
    v_old      jsonb;
    v_new      jsonb;
    v_row      jsonb;
    v_changed  text[];
    v_key      text;
    v_keys     jsonb := '[]';
    v_col      text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_old := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := to_jsonb(NEW);
    END IF;
    v_row := coalesce(v_new, v_old);
    IF TG_OP = 'UPDATE' THEN
        v_changed := ARRAY(SELECT e.key FROM jsonb_each(v_new) AS e
                           WHERE e.value IS DISTINCT FROM v_old -> e.key
                             AND e.key <> ALL (v_ignored)
                           ORDER BY e.key);
        IF cardinality(v_changed) = 0 THEN
            RETURN NULL;
        END IF;
    ELSE
        v_changed := ARRAY(SELECT k FROM jsonb_object_keys(v_row) AS k
                           WHERE k <> ALL (v_ignored) ORDER BY k);
    END IF;
    -- The key in plain expressions (a query or SQL function here would run once per row).
    IF cardinality(v_pk) = 1 THEN
        v_key := v_row ->> v_pk[1];
    ELSE
        FOREACH v_col IN ARRAY v_pk LOOP
            v_keys := v_keys || jsonb_build_array(v_row -> v_col);
        END LOOP;
        v_key := v_keys::text;
    END IF;
    INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                                 old_values, new_values, changed_fields, metadata, request_id)
    VALUES (coalesce(v_row ->> v_org_col, nullif(current_setting('pgkeel.org_id', true), '')),
            nullif(current_setting('pgkeel.actor_id', true), ''), TG_OP, TG_ARGV[4], v_key,
            v_old - v_excluded, v_new - v_excluded, v_changed,
            jsonb_build_object('source', 'trigger', 'db_user', session_user),
            nullif(current_setting('pgkeel.request_id', true), ''));
    RETURN NULL;
END
$$;

CREATE FUNCTION audit.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
BEGIN
    INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, metadata,
                                 request_id)
    VALUES (nullif(current_setting('pgkeel.org_id', true), ''),
            nullif(current_setting('pgkeel.actor_id', true), ''), 'TRUNCATE', TG_ARGV[0],
            jsonb_build_object('source', 'trigger', 'db_user', session_user),
            nullif(current_setting('pgkeel.request_id', true), ''));
    RETURN NULL;
END
$$;

CREATE FUNCTION audit.disable(target regclass) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_trigger text;
BEGIN
    FOR v_trigger IN
        SELECT t.tgname::text FROM pg_catalog.pg_trigger AS t
        WHERE t.tgrelid = target AND NOT t.tgisinternal AND t.tgparentid = 0
          AND t.tgname IN ('pgkeel_audit_insert', 'pgkeel_audit_update', 'pgkeel_audit_delete',
                           'pgkeel_audit_row', 'pgkeel_audit_truncate')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, target);
    END LOOP;
    DELETE FROM audit.tracked_tables WHERE relid = target;
    RETURN FOUND;
END
$$;

-- Install (or re-install with new options) the capture triggers on `target`; returns the
-- mode used. A table needs a primary key: it is what identifies an audited row.
CREATE FUNCTION audit.enable(target regclass, mode text DEFAULT 'statement',
                             exclude_columns text[] DEFAULT '{}',
                             ignore_columns text[] DEFAULT '{}',
                             org_column text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_kind    "char";
    v_child   boolean;
    v_schema  text;
    v_name    text;
    v_pk      text[];
    v_missing text;
    v_mode    text := mode;
    v_args    text;
BEGIN
    IF mode IS NULL OR mode NOT IN ('statement', 'row') THEN
        RAISE EXCEPTION 'mode must be ''statement'' or ''row'', not %', mode
            USING ERRCODE = '22023';
    END IF;
    SELECT c.relkind, c.relispartition
               OR EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid),
           n.nspname::text, c.relname::text
      INTO v_kind, v_child, v_schema, v_name
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = target;
    IF v_kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', target USING ERRCODE = '42809';
    END IF;
    IF v_schema = 'audit' THEN
        RAISE EXCEPTION 'the audit schema''s own tables cannot be audited' USING ERRCODE = '42809';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY k.ord) INTO v_pk
    FROM pg_catalog.pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = target AND i.indisprimary;
    IF v_pk IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', target
            USING ERRCODE = '55000',
                  HINT = 'Audited rows are identified by their primary key: add one first.';
    END IF;
    SELECT string_agg(col, ', ') INTO v_missing
    FROM unnest(coalesce(exclude_columns, '{}') || coalesce(ignore_columns, '{}')
                || coalesce(ARRAY[org_column], '{}')) AS col
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = target AND a.attname = col AND a.attnum > 0
                        AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'table % has no column(s) %', target, v_missing USING ERRCODE = '42703';
    END IF;
    IF v_kind = 'p' OR v_child THEN
        v_mode := 'row';
    END IF;
    PERFORM audit.disable(target);
    v_args := format('%L, %L, %L, %L, %L', v_pk, coalesce(exclude_columns, '{}'),
                     coalesce(ignore_columns, '{}'), coalesce(org_column, ''),
                     v_schema || '.' || v_name);
    IF v_mode = 'statement' THEN
        EXECUTE format('CREATE TRIGGER pgkeel_audit_insert AFTER INSERT ON %s'
                       ' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION audit.capture_statement(%s)', target, v_args);
        EXECUTE format('CREATE TRIGGER pgkeel_audit_update AFTER UPDATE ON %s'
                       ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_statement(%s)',
                       target, v_args);
        EXECUTE format('CREATE TRIGGER pgkeel_audit_delete AFTER DELETE ON %s'
                       ' REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION audit.capture_statement(%s)', target, v_args);
    ELSE
        EXECUTE format('CREATE TRIGGER pgkeel_audit_row AFTER INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION audit.capture_row(%s)', target, v_args);
    END IF;
    EXECUTE format('CREATE TRIGGER pgkeel_audit_truncate AFTER TRUNCATE ON %s'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_truncate(%L)', target,
                   v_schema || '.' || v_name);
    INSERT INTO audit.tracked_tables AS t (relid, mode, pk_columns, excluded, ignored, org_column)
    VALUES (target, v_mode, v_pk, coalesce(exclude_columns, '{}'), coalesce(ignore_columns, '{}'),
            org_column)
    ON CONFLICT (relid) DO UPDATE
        SET mode = EXCLUDED.mode, pk_columns = EXCLUDED.pk_columns,
            excluded = EXCLUDED.excluded, ignored = EXCLUDED.ignored,
            org_column = EXCLUDED.org_column, enabled_by = current_user, enabled_at = now();
    RETURN v_mode;
END
$$;
