-- pgkeel outbox: the events table the relay drains, and the inbox consumers deduplicate with.
--
-- Everything lives in schema `outbox` and is referenced with that name, because `outbox.add`
-- runs in the caller's transaction under whatever search_path the caller has.

CREATE TABLE outbox.outbox_events (
    id               uuid PRIMARY KEY,
    -- Insertion order: a partition key's events are published in this order.
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    org_id           text DEFAULT nullif(current_setting('pgkeel.org_id', true), ''),
    aggregate_type   text NOT NULL,
    aggregate_id     text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    headers          jsonb NOT NULL DEFAULT '{}',
    partition_key    text,
    priority         smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 10),
    -- A relay claims events by locking them (FOR UPDATE) in a transaction that lasts while it
    -- publishes them: no 'claimed' state is written, and a relay that dies releases its claims
    -- with its connection (or when its lease, idle_in_transaction_session_timeout, runs out).
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'published', 'dead')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL DEFAULT 25 CHECK (max_attempts >= 1),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz
);

COMMENT ON TABLE outbox.outbox_events IS
    'pgkeel outbox: events written in the producer''s transaction, published by the relay';
COMMENT ON COLUMN outbox.outbox_events.next_attempt_at IS
    'Not claimed before this time (backoff); ''infinity'' parks an event behind a dead one';

-- The claim query: due pending events, highest priority first, then oldest due time.
CREATE INDEX outbox_events_due ON outbox.outbox_events (priority DESC, next_attempt_at, seq)
    WHERE status = 'pending';
-- A partition key's unpublished events in order: its head, and what holds a later one back.
CREATE INDEX outbox_events_key_order ON outbox.outbox_events (partition_key, seq)
    WHERE status <> 'published' AND partition_key IS NOT NULL;
-- Listing dead letters; pruning published rows after the retention.
CREATE INDEX outbox_events_dead ON outbox.outbox_events (seq) WHERE status = 'dead';
CREATE INDEX outbox_events_published ON outbox.outbox_events (published_at)
    WHERE status = 'published';

-- A queue table churns: vacuum it early and often, so dead tuples never pile up under the
-- claim index.
ALTER TABLE outbox.outbox_events SET (
    autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);

-- Consumers record each event they handled here, in the transaction of the handler's own
-- writes: a redelivered event finds its row and is skipped.
CREATE TABLE outbox.inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

COMMENT ON TABLE outbox.inbox IS
    'pgkeel inbox: (consumer, event id) pairs already handled, for effectively-once consumers';
