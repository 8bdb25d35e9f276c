-- pgkeel audit, part 5: row-level security on the audit log, a chain state clients cannot
-- forge, and maintenance granted to a role instead of a setting.

-- Row-level security: an organization reads and writes only its own audit rows (the tenant
-- policy, as `pgkeel.security.rls_sql` writes it for a text tenant column). Rows without an
-- organization (platform events, such as a failed login for an unknown organization) may be
-- written by anyone who may write the log, and read by no tenant. The chain tables stay
-- without policies: no application role is granted them, and the chain trigger writes them
-- as their owner.
ALTER TABLE audit.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.audit_log FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS pgkeel_tenant ON audit.audit_log;
CREATE POLICY pgkeel_tenant ON audit.audit_log
    USING (organization_id = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')))
    WITH CHECK (organization_id = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')));
DROP POLICY IF EXISTS pgkeel_platform_events ON audit.audit_log;
CREATE POLICY pgkeel_platform_events ON audit.audit_log FOR INSERT
    WITH CHECK (organization_id IS NULL);

-- The chain trigger kept its running head (organization, position, hash) in a setting, which
-- any session can set: a client could skip the lock and the chain-link claim and choose its
-- own seq and prev_hash. The head is now sealed with a key only the owner can read, bound to
-- the transaction id, so a forged or replayed value is simply ignored.
CREATE TABLE audit.chain_secret (
    only_row boolean PRIMARY KEY DEFAULT true CONSTRAINT chain_secret_one_row CHECK (only_row),
    secret   bytea NOT NULL
);
REVOKE ALL ON audit.chain_secret FROM PUBLIC;
-- 244 random bits from the server's strong random source (gen_random_uuid is built in).
INSERT INTO audit.chain_secret (secret)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

-- sha256(key || sha256(key || message)): keyed, and not open to length extension.
CREATE FUNCTION audit.chain_seal(p_key bytea, p_xid text, p_tag text, p_seq text,
                                 p_hash text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(p_key || sha256(p_key || convert_to(
        p_xid || ':' || p_tag || ':' || p_seq || ':' || p_hash, 'UTF8'))), 'hex')
$$;
REVOKE ALL ON FUNCTION audit.chain_seal(bytea, text, text, text, text) FROM PUBLIC;

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
        NEW.txid, NEW.created_at, v_seq), 'UTF8'));
    INSERT INTO audit.chain (organization_id, seq, audit_id, created_at, prev_hash, hash)
    VALUES (v_org, v_seq, NEW.id, NEW.created_at, v_hash, v_next);
    PERFORM set_config('pgkeel_audit.chain',
                       v_tag || ':' || v_seq::text || ':' || encode(v_next, 'hex') || ':'
                       || audit.chain_seal(v_key, v_xid, v_tag, v_seq::text,
                                           encode(v_next, 'hex')), true);
    RETURN NULL;
END
$$;

-- Append-only, with maintenance (moving rows into a new partition) allowed only to the owner
-- of the audit schema -- the migrator -- and roles granted membership in it. The setting
-- `pgkeel.audit_maintenance` alone no longer lifts the guard: it only says "I mean it" for a
-- role that already may. (That role owns the tables and could drop the trigger anyway.)
CREATE OR REPLACE FUNCTION audit.guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('pgkeel.audit_maintenance', true) = 'on'
       AND pg_catalog.pg_has_role(current_user,
                                  (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n
                                   WHERE n.nspname = 'audit'), 'MEMBER') THEN
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
