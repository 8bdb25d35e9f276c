-- pgkeel audit, part 4: the activity summary as a SQL function, and retention by partition.

-- What a user did in the last `days` days, per action and entity type (school report's
-- `get_user_activity_summary(user_id, 30)`), optionally within one organization.
CREATE FUNCTION audit.get_user_activity_summary(user_id text, days integer DEFAULT 30,
                                                organization_id text DEFAULT NULL)
RETURNS TABLE (action text, entity_type text, event_count bigint,
               first_at timestamptz, last_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.action, a.entity_type, count(*), min(a.created_at), max(a.created_at)
    FROM audit.audit_log AS a
    WHERE a.actor_id = get_user_activity_summary.user_id
      AND a.created_at >= now() - make_interval(days => get_user_activity_summary.days)
      AND (get_user_activity_summary.organization_id IS NULL
           OR a.organization_id = get_user_activity_summary.organization_id)
    GROUP BY a.action, a.entity_type
    ORDER BY count(*) DESC, a.action, a.entity_type
$$;

-- The same for integer and uuid user ids, as the reports' schemas use both.
CREATE FUNCTION audit.get_user_activity_summary(user_id bigint, days integer)
RETURNS TABLE (action text, entity_type text, event_count bigint,
               first_at timestamptz, last_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM audit.get_user_activity_summary(user_id::text, days, NULL::text)
$$;

CREATE FUNCTION audit.get_user_activity_summary(user_id uuid, days integer)
RETURNS TABLE (action text, entity_type text, event_count bigint,
               first_at timestamptz, last_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM audit.get_user_activity_summary(user_id::text, days, NULL::text)
$$;

-- Monthly partitions of both tables, with their bounds (the default partitions have none).
CREATE FUNCTION audit.partitions()
RETURNS TABLE (parent text, partition_name text, lower_bound timestamptz,
               upper_bound timestamptz, estimated_rows bigint, total_bytes bigint)
LANGUAGE sql STABLE AS $$
    SELECT p.relname::text, c.relname::text,
           CASE WHEN c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
                THEN to_date(right(c.relname, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC'
           END,
           CASE WHEN c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
                THEN (to_date(right(c.relname, 7), 'YYYY_MM')::timestamp
                      + interval '1 month') AT TIME ZONE 'UTC'
           END,
           greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid)
    FROM pg_catalog.pg_inherits AS i
    JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
    JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
    WHERE i.inhparent IN ('audit.audit_log'::regclass, 'audit.chain'::regclass)
    ORDER BY 1, 3 NULLS LAST, 2
$$;

-- Retention: drop (or detach) every monthly partition that ends at or before `cutoff`, for
-- both tables. Before it does, each affected organization's chain anchor moves forward to the
-- last dropped position (and records dropped positions above it), so verification can tell
-- pruned rows from deleted ones, and writers continue the numbering after it. Takes ACCESS
-- EXCLUSIVE on both tables first -- the same order in which writers lock them (audit_log at
-- INSERT, the chain at COMMIT) -- so it cannot deadlock with them; writers wait while it runs.
CREATE FUNCTION audit.prune(cutoff timestamptz, detach boolean DEFAULT false)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    v_months   text[];
    v_bound    timestamptz;
    v_dropped  text;
    v_org      record;
    v_anchor   record;
    v_min_left bigint;
    v_target   bigint;
    v_row      record;
    v_gaps     bigint[];
    v_month    text;
    v_names    text[] := '{}';
    v_top_hash bytea;
BEGIN
    SELECT array_agg(right(p.partition_name, 7) ORDER BY p.lower_bound), max(p.upper_bound)
      INTO v_months, v_bound
    FROM audit.partitions() AS p
    WHERE p.parent = 'audit_log' AND p.upper_bound <= cutoff;
    IF v_months IS NULL THEN
        RETURN;
    END IF;
    LOCK TABLE audit.audit_log, audit.chain IN ACCESS EXCLUSIVE MODE;

    -- The chain rows about to go, as one relation.
    SELECT string_agg(format('SELECT organization_id, seq, hash FROM audit.%I',
                             'chain_p' || m), ' UNION ALL ')
      INTO v_dropped
    FROM unnest(v_months) AS m
    WHERE to_regclass(format('audit.%I', 'chain_p' || m)) IS NOT NULL;

    IF v_dropped IS NOT NULL THEN
        FOR v_org IN EXECUTE format(
            'SELECT organization_id, max(seq) AS max_seq FROM (%s) AS d GROUP BY organization_id',
            v_dropped)
        LOOP
            SELECT a.seq, a.hash, a.gaps, a.top_seq, a.top_hash INTO v_anchor
            FROM audit.chain_anchors AS a WHERE a.organization_id = v_org.organization_id;
            IF NOT FOUND THEN
                SELECT 0::bigint AS seq, decode(repeat('00', 32), 'hex') AS hash,
                       '{}'::bigint[] AS gaps, 0::bigint AS top_seq,
                       decode(repeat('00', 32), 'hex') AS top_hash INTO v_anchor;
            END IF;
            IF v_org.max_seq > v_anchor.top_seq THEN
                v_anchor.top_seq := v_org.max_seq;
                EXECUTE format('SELECT hash FROM (%s) AS d WHERE organization_id = $1'
                               ' AND seq = $2 LIMIT 1', v_dropped)
                    INTO v_top_hash USING v_org.organization_id, v_org.max_seq;
                v_anchor.top_hash := v_top_hash;
            END IF;
            -- The lowest position that remains (later partitions, or the default partition).
            SELECT least((SELECT min(c.seq) FROM audit.chain AS c
                          WHERE c.organization_id = v_org.organization_id
                            AND c.created_at >= v_bound),
                         (SELECT min(c.seq) FROM audit.chain_default AS c
                          WHERE c.organization_id = v_org.organization_id
                            AND c.created_at < v_bound))
              INTO v_min_left;
            v_target := coalesce(v_min_left - 1, v_org.max_seq);
            -- The new anchor: the highest dropped position at or below the target.
            EXECUTE format('SELECT seq, hash FROM (%s) AS d WHERE organization_id = $1'
                           ' AND seq > $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1', v_dropped)
                INTO v_row USING v_org.organization_id, v_anchor.seq, v_target;
            IF v_row.seq IS NOT NULL THEN
                v_anchor.seq := v_row.seq;
                v_anchor.hash := v_row.hash;
            END IF;
            EXECUTE format('SELECT coalesce(array_agg(s ORDER BY s), ''{}'') FROM ('
                           ' SELECT unnest($2::bigint[]) AS s UNION'
                           ' SELECT seq FROM (%s) AS d WHERE organization_id = $1) AS g'
                           ' WHERE s > $3', v_dropped)
                INTO v_gaps USING v_org.organization_id, v_anchor.gaps, v_anchor.seq;
            INSERT INTO audit.chain_anchors AS a (organization_id, seq, hash, gaps, top_seq,
                                                  top_hash)
            VALUES (v_org.organization_id, v_anchor.seq, v_anchor.hash, v_gaps,
                    v_anchor.top_seq, v_anchor.top_hash)
            ON CONFLICT (organization_id) DO UPDATE
                SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, gaps = EXCLUDED.gaps,
                    top_seq = EXCLUDED.top_seq, top_hash = EXCLUDED.top_hash,
                    updated_at = now();
            -- Claims older than the new start are no longer needed by writers or verify.
            DELETE FROM audit.chain_links AS l
            WHERE l.organization_id = v_org.organization_id AND l.prev_seq < v_anchor.seq;
        END LOOP;
    END IF;

    FOREACH v_month IN ARRAY v_months LOOP
        IF detach THEN
            EXECUTE format('ALTER TABLE audit.audit_log DETACH PARTITION audit.%I',
                           'audit_log_p' || v_month);
            IF to_regclass(format('audit.%I', 'chain_p' || v_month)) IS NOT NULL THEN
                EXECUTE format('ALTER TABLE audit.chain DETACH PARTITION audit.%I',
                               'chain_p' || v_month);
            END IF;
        ELSE
            EXECUTE format('DROP TABLE audit.%I', 'audit_log_p' || v_month);
            EXECUTE format('DROP TABLE IF EXISTS audit.%I', 'chain_p' || v_month);
        END IF;
        v_names := v_names || ('audit_log_p' || v_month) || ('chain_p' || v_month);
        RETURN NEXT 'audit_log_p' || v_month;
        RETURN NEXT 'chain_p' || v_month;
    END LOOP;
    INSERT INTO audit.prune_log (partitions, cutoff, detached) VALUES (v_names, cutoff, detach);
END
$$;
