-- pgkeel audit, part 2: the per-organization hash chain, assigned in commit order.
--
-- A naive chain trigger reads "the latest hash" in a BEFORE INSERT trigger: two concurrent
-- transactions see the same predecessor under MVCC and the chain forks. Here a DEFERRED
-- constraint trigger runs at COMMIT, takes the organization's advisory lock, and only then
-- reads the last chained position (a new statement: under READ COMMITTED, a new snapshot).
-- The lock is held until the commit completes, so the next writer of that organization reads
-- a chain that already contains these rows: positions follow commit order. A transaction
-- whose snapshot cannot see the newest position (REPEATABLE READ / SERIALIZABLE) fails with
-- 40001 on audit.chain_links instead of forking the chain; retry it (`Database.run_in_tx`).
-- Nothing here updates a shared row, so a long-running transaction elsewhere cannot make
-- commits slower by leaving dead row versions behind.

-- One field of the canonical text: '-' for NULL, else '<byte length>:<value>' -- unambiguous
-- without escaping, and easy to rebuild outside the database.
CREATE FUNCTION audit.canonical_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(octet_length(value)::text || ':' || value, '-')
$$;

-- The canonical text of one audit row at chain position `seq` (format v1). jsonb values use
-- PostgreSQL's normalized jsonb text; created_at is UTC with microseconds.
CREATE FUNCTION audit.canonical_text(
    id bigint, organization_id text, actor_id text, action text, entity_type text,
    entity_id text, old_values jsonb, new_values jsonb, changed_fields text[], metadata jsonb,
    request_id text, txid bigint, created_at timestamptz, seq bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT audit.canonical_field(id::text)
        || audit.canonical_field(organization_id)
        || audit.canonical_field(actor_id)
        || audit.canonical_field(action)
        || audit.canonical_field(entity_type)
        || audit.canonical_field(entity_id)
        || audit.canonical_field(old_values::text)
        || audit.canonical_field(new_values::text)
        || audit.canonical_field(to_jsonb(changed_fields)::text)
        || audit.canonical_field(metadata::text)
        || audit.canonical_field(request_id)
        || audit.canonical_field(txid::text)
        || audit.canonical_field(to_char(created_at AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS.US'))
        || audit.canonical_field(seq::text)
$$;

-- Runs at COMMIT for every new audit row, in insertion order. The running head of the
-- organization being chained is kept in a transaction-local setting, so the lock and the
-- look-up of the last position happen once per organization per transaction, not per row.
-- SECURITY DEFINER: application roles need no privilege on the chain tables at all.
CREATE FUNCTION audit.chain_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v_org   text := coalesce(NEW.organization_id, '');
    v_tag   text := md5(coalesce(NEW.organization_id, ''));
    v_state text[] := string_to_array(current_setting('pgkeel_audit.chain', true), ':');
    v_seq   bigint;
    v_hash  bytea;
    v_next  bytea;
    v_top_seq  bigint;
    v_top_hash bytea;
BEGIN
    IF v_state[1] IS NOT DISTINCT FROM v_tag THEN
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
                       v_tag || ':' || v_seq::text || ':' || encode(v_next, 'hex'), true);
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER audit_chain AFTER INSERT ON audit.audit_log
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION audit.chain_row();
