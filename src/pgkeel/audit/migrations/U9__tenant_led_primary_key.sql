-- pgkeel: transaction=off
-- Undoes part 9: the primary key back to (id, created_at), organization_id nullable again,
-- platform events stored as NULL. Built the same way, partition by partition, so its locks are
-- those of part 9 (docs/audit.md). The hash chain does not change either way.
CALL audit.add_partition_keys(ARRAY['id', 'created_at'], 'id_key');
-- pgkeel: lint-ignore PGK010
ALTER TABLE audit.audit_log DROP CONSTRAINT audit_log_pkey,
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id, created_at);
ALTER TABLE audit.audit_log ALTER COLUMN organization_id DROP NOT NULL;
DROP TRIGGER audit_platform_org ON audit.audit_log;
ALTER POLICY pgkeel_tenant ON audit.audit_log
    USING (organization_id = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')))
    WITH CHECK (organization_id = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')));
ALTER POLICY pgkeel_platform_events ON audit.audit_log
    WITH CHECK (organization_id IS NULL);
CALL audit.backfill_platform_org(false, 10000);
-- The chain trigger of part 7.
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
DROP PROCEDURE audit.add_partition_keys(text[], text);
DROP PROCEDURE audit.backfill_platform_org(boolean, integer);
DROP FUNCTION audit.platform_row();
DROP FUNCTION audit.platform_org();
