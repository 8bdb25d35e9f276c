-- pgkeel audit, part 7: event ids that say nothing about other organizations.
--
-- `id` comes from one sequence shared by every organization, and `txid` is the server's
-- transaction counter: a tenant reading its own log could watch both grow and infer how busy
-- the whole platform is. Each row now also has `event_id`, a UUIDv7 (time-ordered, 74 random
-- bits), which is what the list API shows; `id` and `txid` stay for operators.
--
-- The hash chain stays intact: rows chained before this migration keep their hashes (format
-- 1, event id not hashed), and rows chained from now on hash their event id too (format 2,
-- the v1 text followed by one more field). The format is stored with each chain position.

-- A UUIDv7 (RFC 9562) for the millisecond of `at`: 48 bits of Unix time in milliseconds, the
-- version and variant bits, and the random bits of a v4 UUID. Built in, since PostgreSQL 15
-- has no uuidv7().
CREATE FUNCTION audit.uuid_v7(at timestamptz DEFAULT clock_timestamp()) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
               FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- Every step here is instant (no table rewrite, no scan): new rows get an event id from now
-- on, and the next migration fills in the rows written before, in batches.
ALTER TABLE audit.audit_log ADD COLUMN event_id uuid;
ALTER TABLE audit.audit_log ALTER COLUMN event_id SET DEFAULT audit.uuid_v7();
COMMENT ON COLUMN audit.audit_log.event_id IS
    'UUIDv7: the id tenants see (id and txid are platform-wide counters)';
-- NOT NULL as a CHECK: validated after the backfill without blocking writers.
ALTER TABLE audit.audit_log ADD CONSTRAINT audit_log_event_id_not_null
    CHECK (event_id IS NOT NULL) NOT VALID;
ALTER TABLE audit.chain ADD COLUMN format smallint NOT NULL DEFAULT 1
    CONSTRAINT chain_format_known CHECK (format IN (1, 2));
COMMENT ON COLUMN audit.chain.format IS
    'canonical text format: 1 = the v1 fields; 2 = v1 followed by event_id';

-- A partition created late (rows waiting in the default partition) is built beside the table
-- and attached: it must now carry the CHECK constraints above, as ATTACH requires.
CREATE OR REPLACE FUNCTION audit.create_partition(parent text, partition_name text,
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
        EXECUTE format('CREATE TABLE audit.%I (LIKE audit.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
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

-- Event ids for rows written before, `batch` rows per transaction, each from its own row's
-- time. Those rows stay format 1: their event id is not part of their hash.
-- (No SET search_path: a procedure with a SET clause may not COMMIT. Every name is qualified.)
CREATE PROCEDURE audit.backfill_event_ids(batch integer DEFAULT 10000)
LANGUAGE plpgsql AS $$
DECLARE
    v_last  bigint := 0;
    v_count integer;
BEGIN
    LOOP
        PERFORM pg_catalog.set_config('pgkeel.audit_maintenance', 'on', true);
        WITH todo AS (
            SELECT a.id, a.created_at FROM audit.audit_log AS a
            WHERE a.id > v_last AND a.event_id IS NULL
            ORDER BY a.id LIMIT batch
        ), done AS (
            UPDATE audit.audit_log AS a SET event_id = audit.uuid_v7(a.created_at)
            FROM todo WHERE a.id = todo.id AND a.created_at = todo.created_at
            RETURNING a.id
        )
        SELECT pg_catalog.count(*), pg_catalog.max(done.id) INTO v_count, v_last FROM done;
        COMMIT;
        EXIT WHEN v_count = 0;
    END LOOP;
END
$$;

-- The chain trigger, as before, but hashing the event id and recording format 2.
CREATE OR REPLACE FUNCTION audit.chain_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v_org   text := coalesce(NEW.organization_id, '');
    v_tag   text := md5(coalesce(NEW.organization_id, ''));
    v_state text[] := string_to_array(current_setting('pgkeel_audit.chain', true), ':');
    v_xid   text := pg_current_xact_id()::text;
    v_key   bytea;
    v_seq   bigint;
    v_hash  bytea;
    v_next  bytea;
    v_top_seq  bigint;
    v_top_hash bytea;
BEGIN
    SELECT s.secret INTO STRICT v_key FROM audit.chain_secret AS s;
    -- The running head is trusted only with a valid seal: made by this function, in this
    -- transaction, for this organization. Anything else (unset, forged, or copied from
    -- another transaction) takes the lock and reads the head from the chain itself.
    IF cardinality(v_state) = 4 AND v_state[1] = v_tag
       AND v_state[4] = audit.chain_seal(v_key, v_xid, v_tag, v_state[2], v_state[3]) THEN
        v_seq := v_state[2]::bigint;
        v_hash := decode(v_state[3], 'hex');
    ELSE
        -- Wait for (and then block) every other committing writer of this organization.
        PERFORM pg_advisory_xact_lock(hashtext('pgkeel.audit.chain'), hashtext(v_org));
        SELECT c.seq, c.hash INTO v_seq, v_hash
        FROM audit.chain AS c
        WHERE c.organization_id = v_org
        ORDER BY c.seq DESC
        LIMIT 1;
        -- Never reuse a position that retention dropped (it may be above every remaining one).
        SELECT a.top_seq, a.top_hash INTO v_top_seq, v_top_hash
        FROM audit.chain_anchors AS a WHERE a.organization_id = v_org;
        IF v_top_seq > v_seq OR v_seq IS NULL THEN
            v_seq := v_top_seq;
            v_hash := v_top_hash;
        END IF;
        v_seq := coalesce(v_seq, 0);
        v_hash := coalesce(v_hash, decode(repeat('00', 32), 'hex'));
        -- Claim "extend from v_seq". A row committed after our snapshot makes this raise 40001
        -- (REPEATABLE READ); a visible one means the snapshot is stale in another way.
        INSERT INTO audit.chain_links (organization_id, prev_seq) VALUES (v_org, v_seq)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the audit chain of organization % already continues after %',
                            v_org, v_seq
                USING ERRCODE = '40001',
                      HINT = 'Retry the transaction (Database.run_in_tx does).';
        END IF;
    END IF;
    v_seq := v_seq + 1;
    v_next := sha256(v_hash || convert_to(audit.canonical_text(
        NEW.id, NEW.organization_id, NEW.actor_id, NEW.action, NEW.entity_type, NEW.entity_id,
        NEW.old_values, NEW.new_values, NEW.changed_fields, NEW.metadata, NEW.request_id,
        NEW.txid, NEW.created_at, v_seq)
        || audit.canonical_field(NEW.event_id::text), 'UTF8'));
    INSERT INTO audit.chain (organization_id, seq, audit_id, created_at, prev_hash, hash,
                             format)
    VALUES (v_org, v_seq, NEW.id, NEW.created_at, v_hash, v_next, 2);
    PERFORM set_config('pgkeel_audit.chain',
                       v_tag || ':' || v_seq::text || ':' || encode(v_next, 'hex') || ':'
                       || audit.chain_seal(v_key, v_xid, v_tag, v_seq::text,
                                           encode(v_next, 'hex')), true);
    RETURN NULL;
END
$$;
