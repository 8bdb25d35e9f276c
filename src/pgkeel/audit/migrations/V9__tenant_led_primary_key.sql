-- pgkeel: transaction=off
-- pgkeel audit, part 9: a primary key led by the organization, (organization_id, id,
-- created_at), so the audit log can be distributed by organization like every tenant table
-- (Citus needs the distribution column in the primary key, hence NOT NULL).
--
-- Platform events (no organization) are stored with the nil UUID as organization_id,
-- `audit.platform_org()`; whoever writes NULL -- the library, the capture triggers, or SQL
-- of one's own -- still may: a BEFORE INSERT trigger stores the sentinel instead. The hash
-- chain does not change: the canonical text hashes the sentinel as NULL ('-'), exactly as
-- platform rows were hashed before, and platform events stay in the chain of organization
-- ''. So rows chained before this migration verify after it, and readers get None back.
--
-- Every statement runs in its own transaction; a failed run resumes where it stopped.
-- Locks, in order (docs/audit.md, "Upgrading to the tenant-led key"):
--   1. functions, the NULL-to-sentinel trigger (SHARE ROW EXCLUSIVE on the table and each
--      partition), the row-level security policies (ACCESS EXCLUSIVE on the table) and a
--      NOT VALID check (ACCESS EXCLUSIVE on the table and each partition): catalog changes,
--      a moment each once the statements in flight finish;
--   2. existing platform rows get the sentinel, 10,000 rows per transaction (writers go on);
--   3. the check is validated (SHARE UPDATE EXCLUSIVE: reads and writes go on), which lets
--      SET NOT NULL skip its scan (ACCESS EXCLUSIVE, a moment);
--   4. per partition, one transaction each: the new key's unique index is built (SHARE on
--      that partition only: its reads go on, its writes wait while it builds -- in practice
--      only the current month's partition and the default one receive writes), then made
--      a constraint (ACCESS EXCLUSIVE on that partition, a moment);
--   5. the old primary key is dropped and the new one added on the parent, which attaches
--      the partitions' constraints instead of building anything (ACCESS EXCLUSIVE on the
--      table and every partition, a moment).

-- The organization_id of platform events: the nil UUID, which no organization has.
CREATE FUNCTION audit.platform_org() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '00000000-0000-0000-0000-000000000000'::text
$$;
COMMENT ON FUNCTION audit.platform_org() IS
    'organization_id of platform events (no organization): the nil UUID';

-- The sentinel must be free: a row that already uses it as a real organization would read
-- back as a platform event and hash differently.
DO $$
BEGIN
    IF EXISTS (SELECT FROM audit.audit_log WHERE organization_id = audit.platform_org())
       OR EXISTS (SELECT FROM audit.chain WHERE organization_id = audit.platform_org()) THEN
        RAISE EXCEPTION 'audit rows already use organization_id %, which this upgrade '
                        'reserves for platform events', audit.platform_org()
            USING ERRCODE = '55000',
                  HINT = 'Move that organization to another id before upgrading.';
    END IF;
END
$$;

-- Stored NULL becomes the sentinel; no call is made for the rows of an organization. This and
-- the policies below run as the writing or reading role, so they spell the sentinel out
-- rather than need EXECUTE on audit.platform_org().
CREATE FUNCTION audit.platform_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.organization_id := '00000000-0000-0000-0000-000000000000';
    RETURN NEW;
END
$$;

-- The chain trigger, as in part 7, reading the sentinel as "no organization": the chain of
-- organization '' and NULL in the canonical text, as before.
CREATE OR REPLACE FUNCTION audit.chain_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v_tenant text := nullif(NEW.organization_id, audit.platform_org());   -- NULL: platform
    v_org   text := coalesce(v_tenant, '');
    v_tag   text := md5(coalesce(v_tenant, ''));
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
        NEW.id, v_tenant, NEW.actor_id, NEW.action, NEW.entity_type, NEW.entity_id,
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

-- Writers are never blocked here beyond the moment CREATE TRIGGER waits for the inserts in
-- flight to commit; every platform row inserted from now on carries the sentinel.
CREATE TRIGGER audit_platform_org BEFORE INSERT ON audit.audit_log
    FOR EACH ROW WHEN (NEW.organization_id IS NULL) EXECUTE FUNCTION audit.platform_row();

-- Row-level security, as in part 6, with the sentinel: an organization reads and writes only
-- its own rows (a session whose organization is the sentinel is no organization at all), and
-- platform events may be written by anyone who may write the log and read by no tenant.
ALTER POLICY pgkeel_tenant ON audit.audit_log
    USING (organization_id = (SELECT NULLIF(NULLIF(current_setting('pgkeel.org_id', true), ''),
                                            '00000000-0000-0000-0000-000000000000')))
    WITH CHECK (organization_id = (SELECT NULLIF(NULLIF(current_setting('pgkeel.org_id', true),
                                                        ''),
                                                 '00000000-0000-0000-0000-000000000000')));
ALTER POLICY pgkeel_platform_events ON audit.audit_log
    WITH CHECK (organization_id = '00000000-0000-0000-0000-000000000000');

-- NOT NULL as a CHECK first: validated after the backfill without blocking writers.
ALTER TABLE audit.audit_log ADD CONSTRAINT audit_log_organization_id_not_null
    CHECK (organization_id IS NOT NULL) NOT VALID;

-- organization_id NULL <-> the sentinel for rows written before, `batch` rows per
-- transaction (`to_sentinel` false: back to NULL, for the undo). The hash chain does not
-- change: both are hashed as NULL. (No SET search_path: a procedure with a SET clause may not
-- COMMIT. Every name is qualified.)
CREATE PROCEDURE audit.backfill_platform_org(to_sentinel boolean DEFAULT true,
                                             batch integer DEFAULT 10000)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    LOOP
        PERFORM pg_catalog.set_config('pgkeel.audit_maintenance', 'on', true);
        IF to_sentinel THEN
            UPDATE audit.audit_log AS a SET organization_id = audit.platform_org()
            FROM (SELECT t.id, t.created_at FROM audit.audit_log AS t
                  WHERE t.organization_id IS NULL LIMIT batch) AS todo
            WHERE a.id = todo.id AND a.created_at = todo.created_at
              AND a.organization_id IS NULL;
        ELSE
            UPDATE audit.audit_log AS a SET organization_id = NULL
            FROM (SELECT t.id, t.created_at FROM audit.audit_log AS t
                  WHERE t.organization_id = audit.platform_org() LIMIT batch) AS todo
            WHERE a.id = todo.id AND a.created_at = todo.created_at
              AND a.organization_id = audit.platform_org();
        END IF;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        COMMIT;
        EXIT WHEN v_count = 0;
    END LOOP;
END
$$;

-- A unique constraint on `columns` for every partition of the audit log, named
-- <partition>_<suffix>, one partition per transaction: monthly partitions oldest first, the
-- default partition last. PostgreSQL 15 cannot build an index CONCURRENTLY from a procedure,
-- so each build holds SHARE on its partition (reads go on, writes to that partition wait).
-- An index of that name built beforehand (e.g. CONCURRENTLY, by hand) is used as it is.
-- Re-runnable: partitions that already have the constraint are skipped.
CREATE PROCEDURE audit.add_partition_keys(columns text[], suffix text)
LANGUAGE plpgsql AS $$
DECLARE
    v_part  regclass;
    v_name  text;
    v_valid boolean;
BEGIN
    FOR v_part, v_name IN
        SELECT c.oid::regclass, c.relname::text || '_' || suffix
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit.audit_log'::regclass
        ORDER BY c.relname = 'audit_log_default', c.relname
    LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_constraint AS k
                              WHERE k.conrelid = v_part AND k.conname = v_name);
        SELECT x.indisvalid INTO v_valid
        FROM pg_catalog.pg_index AS x
        WHERE x.indexrelid = pg_catalog.to_regclass(pg_catalog.format('audit.%I', v_name));
        IF v_valid IS FALSE THEN  -- left by a failed CREATE INDEX CONCURRENTLY
            EXECUTE pg_catalog.format('DROP INDEX audit.%I', v_name);
        END IF;
        IF v_valid IS NOT TRUE THEN
            EXECUTE pg_catalog.format('CREATE UNIQUE INDEX %I ON %s (%s)', v_name, v_part,
                (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(col), ', ')
                 FROM pg_catalog.unnest(columns) AS col));
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE USING INDEX %I',
                                  v_part, v_name, v_name);
        COMMIT;
    END LOOP;
END
$$;

CALL audit.backfill_platform_org(true, 10000);
ALTER TABLE audit.audit_log VALIDATE CONSTRAINT audit_log_organization_id_not_null;
-- The validated check proves the column holds no NULL: no scan, a moment's lock.
-- pgkeel: lint-ignore PGK008
ALTER TABLE audit.audit_log ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE audit.audit_log DROP CONSTRAINT audit_log_organization_id_not_null;

CALL audit.add_partition_keys(ARRAY['organization_id', 'id', 'created_at'], 'tenant_key');
-- A partitioned table takes no ADD CONSTRAINT ... USING INDEX; the new key finds each
-- partition's matching constraint and attaches it, so nothing is built under this lock.
-- pgkeel: lint-ignore PGK010
ALTER TABLE audit.audit_log DROP CONSTRAINT audit_log_pkey,
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (organization_id, id, created_at);
