-- pgkeel idempotency keys: one row per (organization, route, client key).
--
-- A request claims its key by inserting the row `in_flight` with a lease (lock_token,
-- locked_until), committed on its own so that concurrent retries see it and answer 409. The
-- route's own writes and the stored response are then committed together, in one
-- transaction, which turns the row `completed`; a request that dies leaves the row
-- `in_flight` until its lease runs out, after which the same request may run again.
--
-- Everything lives in schema `idempotency` and is referenced with that name.

CREATE TABLE idempotency.idempotency_keys (
    organization_id  text NOT NULL,
    route            text NOT NULL,
    key              text NOT NULL,
    fingerprint      bytea NOT NULL,
    state            text NOT NULL DEFAULT 'in_flight',
    lock_token       uuid,
    locked_until     timestamptz,
    attempts         integer NOT NULL DEFAULT 1,
    response_status  smallint,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (organization_id, route, key),
    CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight', 'completed')),
    CONSTRAINT idempotency_keys_response_check
        CHECK ((state = 'completed') = (response_status IS NOT NULL)),
    CONSTRAINT idempotency_keys_lease_check
        CHECK (state = 'completed' OR (lock_token IS NOT NULL AND locked_until IS NOT NULL))
);

COMMENT ON TABLE idempotency.idempotency_keys IS
    'pgkeel idempotency keys: the first response to each (organization, route, key)';
COMMENT ON COLUMN idempotency.idempotency_keys.fingerprint IS
    'sha256 of method, route, path/query parameters and the canonical JSON body';
COMMENT ON COLUMN idempotency.idempotency_keys.response_headers IS
    'the selected response headers, as a JSON array of [name, value] pairs';

-- The reaper's two scans: expired keys, and in-flight keys whose lease has run out.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency.idempotency_keys (expires_at);
CREATE INDEX idempotency_keys_stale_idx ON idempotency.idempotency_keys (locked_until)
    WHERE state = 'in_flight';

-- A churning table (insert, update, delete within a day): vacuum it early.
ALTER TABLE idempotency.idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.05,
                                              autovacuum_analyze_scale_factor = 0.05);
