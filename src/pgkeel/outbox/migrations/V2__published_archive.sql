-- Published events leave the queue table for an append-only archive.
--
-- Marking an event published in place wrote a new version of its row and two index entries
-- (the primary key and the retention index), and left the queue table and its indexes to
-- grow with every event ever kept. Moving it -- a DELETE from outbox_events and an INSERT
-- here, in the relay's marking statement -- writes no index entry but a BRIN one, and keeps
-- outbox_events down to the events still to publish (pending) and the dead letters.

CREATE TABLE outbox.outbox_published (
    id               uuid NOT NULL,
    seq              bigint NOT NULL,
    org_id           text,
    aggregate_type   text NOT NULL,
    aggregate_id     text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    headers          jsonb NOT NULL,
    partition_key    text,
    priority         smallint NOT NULL,
    attempts         integer NOT NULL,
    max_attempts     integer NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL,
    published_at     timestamptz NOT NULL
);

COMMENT ON TABLE outbox.outbox_published IS
    'pgkeel outbox: published events, kept for OUTBOX_RETENTION_S and then pruned';

-- Pruning by age. Rows arrive in publishing order, so a block range index finds the old ones
-- at almost no cost per insert (a B-tree entry per event is what moving the rows saves).
CREATE INDEX outbox_published_at ON outbox.outbox_published USING brin (published_at)
    WITH (autosummarize = on);

INSERT INTO outbox.outbox_published
SELECT id, seq, org_id, aggregate_type, aggregate_id, event_type, payload, headers,
       partition_key, priority, attempts, max_attempts, last_error, created_at,
       coalesce(published_at, now())
FROM outbox.outbox_events
WHERE status = 'published'
ORDER BY published_at;

DELETE FROM outbox.outbox_events WHERE status = 'published';

-- Every event, whichever table holds it: for people and tools that look events up.
CREATE VIEW outbox.events AS
SELECT id, seq, org_id, aggregate_type, aggregate_id, event_type, payload, headers,
       partition_key, priority, status, attempts, max_attempts, next_attempt_at, last_error,
       created_at, published_at
FROM outbox.outbox_events
UNION ALL
SELECT id, seq, org_id, aggregate_type, aggregate_id, event_type, payload, headers,
       partition_key, priority, 'published', attempts, max_attempts, NULL, last_error,
       created_at, published_at
FROM outbox.outbox_published;

COMMENT ON VIEW outbox.events IS
    'pgkeel outbox: every event, still to publish (outbox_events) or published (outbox_published)';
