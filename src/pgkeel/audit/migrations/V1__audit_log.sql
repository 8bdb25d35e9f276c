-- pgkeel audit, part 1: the audit_log table partitioned by month, the hash-chain tables beside
-- it (partitioned the same way, so retention drops both together), the indexes, the guard
-- that keeps audit data append-only, and the function that creates partitions ahead of time.
--
-- Everything lives in schema `audit` and is referenced with that name, because triggers and
-- functions here run under the search_path of whichever session writes an audit row.

CREATE TABLE audit.audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    organization_id text,
    actor_id        text,
    action          text NOT NULL,
    entity_type     text NOT NULL,
    entity_id       text,
    old_values      jsonb,
    new_values      jsonb,
    changed_fields  text[],
    metadata        jsonb,
    request_id      text,
    txid            bigint DEFAULT txid_current(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

COMMENT ON TABLE audit.audit_log IS
    'pgkeel audit log: one row per audited change; append-only, partitioned by month (UTC)';
COMMENT ON COLUMN audit.audit_log.txid IS
    'txid_current() of the writing transaction; NULL for events written by the appender';

-- The chain: one row per audit row, assigned at COMMIT under a per-organization lock, so the
-- positions (seq) follow commit order and concurrent writers cannot fork the chain.
CREATE TABLE audit.chain (
    organization_id text NOT NULL,
    seq             bigint NOT NULL,
    audit_id        bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    chained_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (organization_id, seq, created_at)
) PARTITION BY RANGE (created_at);

COMMENT ON TABLE audit.chain IS
    'pgkeel audit hash chain: hash = sha256(prev_hash || canonical(row, seq))';

-- One row per transaction that extended an organization's chain, from position prev_seq.
-- Append-only (no row is ever updated, so a long-running transaction elsewhere cannot bloat
-- it), and unique: two transactions can never extend the chain from the same position. Under
-- REPEATABLE READ / SERIALIZABLE a transaction whose snapshot missed a newer position fails
-- here with 40001 instead of forking the chain. Its newest row also tells `verify` where the
-- chain must at least reach.
CREATE TABLE audit.chain_links (
    organization_id text NOT NULL,
    prev_seq        bigint NOT NULL,
    linked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (organization_id, prev_seq)
);

-- Where verification starts after retention dropped the oldest partitions: the last dropped
-- position below every remaining one and its hash, plus the dropped positions above it (rows
-- of transactions that started in a dropped month but committed after rows that remain).
-- top_seq / top_hash: the highest position ever dropped, so writers never reuse it.
CREATE TABLE audit.chain_anchors (
    organization_id text PRIMARY KEY,
    seq             bigint NOT NULL,
    hash            bytea NOT NULL,
    gaps            bigint[] NOT NULL DEFAULT '{}',
    top_seq         bigint NOT NULL,
    top_hash        bytea NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit.prune_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partitions  text[] NOT NULL,
    cutoff      timestamptz NOT NULL,
    detached    boolean NOT NULL,
    pruned_by   text NOT NULL DEFAULT current_user,
    pruned_at   timestamptz NOT NULL DEFAULT now()
);

-- Rows whose month has no partition yet land here; creating the partition later moves them.
CREATE TABLE audit.audit_log_default PARTITION OF audit.audit_log DEFAULT;
CREATE TABLE audit.chain_default PARTITION OF audit.chain DEFAULT;

-- The three access paths of the user-service report (its index names), the entity trail
-- ordered by time, an actor's activity, and BRIN for time ranges across organizations.
CREATE INDEX idx_audit_logs_org_created ON audit.audit_log (organization_id, created_at DESC);
CREATE INDEX idx_audit_logs_org_entity
    ON audit.audit_log (organization_id, entity_type, entity_id, created_at DESC);
CREATE INDEX idx_audit_logs_org_action
    ON audit.audit_log (organization_id, action, created_at DESC);
CREATE INDEX idx_audit_logs_actor_created ON audit.audit_log (actor_id, created_at DESC);
CREATE INDEX idx_audit_logs_created_brin ON audit.audit_log USING brin (created_at);

-- Append-only: UPDATE, DELETE and TRUNCATE are refused. This stops accidents, not attackers
-- (a superuser can disable triggers); `pgkeel audit verify` is what detects tampering.
CREATE FUNCTION audit.guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pgkeel.audit_maintenance', true) = 'on' THEN
        IF TG_LEVEL = 'STATEMENT' THEN
            RETURN NULL;
        ELSIF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = '42501',
              HINT = 'Audit rows are never changed; retention drops whole partitions.';
END
$$;

CREATE TRIGGER audit_guard BEFORE UPDATE OR DELETE ON audit.audit_log
    FOR EACH ROW EXECUTE FUNCTION audit.guard();
CREATE TRIGGER audit_guard BEFORE UPDATE OR DELETE ON audit.chain
    FOR EACH ROW EXECUTE FUNCTION audit.guard();
-- Statement triggers are not inherited by partitions: each partition gets its own.
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON audit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.guard();
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON audit.chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit.guard();
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON audit.audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit.guard();
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON audit.chain_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit.guard();

-- One month's partition of `parent` ('audit_log' or 'chain'). Rows already in the default
-- partition for that month are moved into it first, so creating a partition late never fails.
CREATE FUNCTION audit.create_partition(parent text, partition_name text,
                                       lower_bound timestamptz, upper_bound timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_waiting boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT FROM audit.%I'
                   ' WHERE created_at >= $1 AND created_at < $2)', parent || '_default')
        INTO v_waiting USING lower_bound, upper_bound;
    IF NOT v_waiting THEN
        EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.%I'
                       ' FOR VALUES FROM (%L) TO (%L)',
                       partition_name, parent, lower_bound, upper_bound);
    ELSE
        EXECUTE format('CREATE TABLE audit.%I (LIKE audit.%I INCLUDING DEFAULTS)',
                       partition_name, parent);
        PERFORM set_config('pgkeel.audit_maintenance', 'on', true);
        EXECUTE format('WITH moved AS (DELETE FROM audit.%I'
                       ' WHERE created_at >= $1 AND created_at < $2 RETURNING *)'
                       ' INSERT INTO audit.%I SELECT * FROM moved',
                       parent || '_default', partition_name)
            USING lower_bound, upper_bound;
        PERFORM set_config('pgkeel.audit_maintenance', '', true);
        EXECUTE format('ALTER TABLE audit.%I ATTACH PARTITION audit.%I'
                       ' FOR VALUES FROM (%L) TO (%L)',
                       parent, partition_name, lower_bound, upper_bound);
    END IF;
    EXECUTE format('CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON audit.%I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit.guard()', partition_name);
END
$$;

-- Partitions for the month of `from_time` and `months_ahead` months after it (UTC months),
-- for both tables; returns the names it created. Safe to run concurrently and repeatedly.
CREATE FUNCTION audit.create_partitions(months_ahead integer DEFAULT 3,
                                        from_time timestamptz DEFAULT now())
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    v_first  timestamp := date_trunc('month', from_time AT TIME ZONE 'UTC');
    v_month  timestamp;
    v_parent text;
    v_name   text;
BEGIN
    IF months_ahead < 0 OR months_ahead > 240 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 240, not %', months_ahead
            USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('pgkeel.audit.partitions'));
    FOR i IN 0 .. months_ahead LOOP
        v_month := v_first + make_interval(months => i);
        FOREACH v_parent IN ARRAY ARRAY['audit_log', 'chain'] LOOP
            v_name := v_parent || to_char(v_month, '"_p"YYYY"_"MM');
            IF to_regclass(format('audit.%I', v_name)) IS NULL THEN
                PERFORM audit.create_partition(v_parent, v_name, v_month AT TIME ZONE 'UTC',
                                               (v_month + interval '1 month') AT TIME ZONE 'UTC');
                RETURN NEXT v_name;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

SELECT count(*) FROM audit.create_partitions(3);
