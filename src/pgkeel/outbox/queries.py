"""The SQL the relay and the admin functions run, as named constants."""

from __future__ import annotations

from typing import LiteralString

# The claim's lease: the server ends a claiming transaction left idle (a relay that hangs or
# lost its network) after this many milliseconds, which releases its locks.
SET_LEASE: LiteralString = (
    "SELECT set_config('idle_in_transaction_session_timeout', %s, true)")

# Claim a batch: lock it for the claiming transaction, which lasts while the relay publishes.
# Candidates are due pending events, highest priority first, then oldest due time, locked with
# SKIP LOCKED so concurrent relays never wait on one another; they carry every column the relay
# sends, so no claimed row is looked up twice. A candidate with a partition key is claimed
# only when the key's run of candidates starts at the key's head and has no gap: no unpublished
# event of the key lies before its first candidate or between two of its candidates (one probe
# of the key-order index each). So a key's event is never claimed while an earlier one is
# unpublished -- backing off, dead, or locked by another relay. The other candidates are pushed
# back instead: to the head's due time when the head backs off, to 'infinity' (parked until a
# replay) behind a dead head, and by %(blocked_delay)s seconds otherwise, so they do not crowd
# the next batch. Every candidate is returned (`ok` tells claimed from pushed back), so that a
# batch of only blocked events still counts as progress.
CLAIM: LiteralString = """
WITH candidates AS MATERIALIZED (
    SELECT id, id::text AS id_text, partition_key, seq, priority, next_attempt_at, event_type,
           aggregate_type, aggregate_id, payload, headers, org_id, created_at, attempts,
           max_attempts
    FROM outbox.outbox_events
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY priority DESC, next_attempt_at, seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), ranked AS MATERIALIZED (
    SELECT id, partition_key, seq, row_number() OVER w AS rank, lag(seq) OVER w AS previous
    FROM candidates
    WHERE partition_key IS NOT NULL
    WINDOW w AS (PARTITION BY partition_key ORDER BY seq)
), verdicts AS MATERIALIZED (
    SELECT id, partition_key, rank,
           bool_and(NOT EXISTS (
               SELECT FROM outbox.outbox_events p
               WHERE p.partition_key = r.partition_key AND p.status <> 'published'
                 AND p.seq < r.seq AND (r.previous IS NULL OR p.seq > r.previous)
           )) OVER (PARTITION BY partition_key ORDER BY rank) AS ok
    FROM ranked r
), pushed_back AS (
    UPDATE outbox.outbox_events e
    SET next_attempt_at = (
        SELECT CASE WHEN head.status = 'dead' THEN 'infinity'::timestamptz
                    ELSE greatest(now() + %(blocked_delay)s * interval '1 second',
                                  CASE WHEN head.status = 'pending'
                                       THEN head.next_attempt_at END)
               END
        FROM outbox.outbox_events head
        WHERE head.partition_key = v.partition_key AND head.status <> 'published'
        ORDER BY head.seq
        LIMIT 1)
    FROM verdicts v
    WHERE e.id = v.id AND NOT v.ok
)
SELECT coalesce(v.ok, true), coalesce(v.rank, 1), c.id, c.id_text, c.event_type, c.aggregate_type,
       c.aggregate_id, CASE WHEN v.ok IS NOT FALSE THEN c.payload::text END,
       CASE WHEN v.ok IS NOT FALSE THEN c.headers::text END, c.partition_key, c.org_id,
       c.created_at, c.attempts, c.max_attempts
FROM candidates c
LEFT JOIN verdicts v ON v.id = c.id
ORDER BY c.priority DESC, c.next_attempt_at, c.seq"""

MARK_PUBLISHED: LiteralString = """
WITH marked AS (
    UPDATE outbox.outbox_events
    SET status = 'published', published_at = now(), attempts = attempts + 1
    WHERE id = ANY(%s::uuid[])
    RETURNING 1
)
SELECT count(*) FROM marked"""

# With no retention (`keep_published=False`), acknowledged events are deleted instead: a DELETE
# writes no new row version and no index entry, which makes it the cheaper way to finish one.
DELETE_PUBLISHED: LiteralString = """
WITH deleted AS (
    DELETE FROM outbox.outbox_events
    WHERE id = ANY(%s::uuid[])
    RETURNING 1
)
SELECT count(*) FROM deleted"""

# Failed events back off (or go dead once out of attempts); events released untried -- the
# followers of a failed key in the same batch -- wait with the failed head (NULL delay:
# 'infinity', behind a head that just went dead).
MARK_FAILED: LiteralString = """
UPDATE outbox.outbox_events e
SET status = CASE WHEN f.counted AND e.attempts + 1 >= e.max_attempts THEN 'dead'
                  ELSE 'pending' END,
    attempts = e.attempts + f.counted::int,
    next_attempt_at = CASE WHEN f.delay IS NULL THEN 'infinity'::timestamptz
                           ELSE now() + f.delay * interval '1 second' END,
    last_error = CASE WHEN f.counted THEN f.error ELSE e.last_error END
FROM unnest(%s::uuid[], %s::float8[], %s::text[], %s::bool[]) AS f(id, delay, error, counted)
WHERE e.id = f.id
RETURNING e.status"""

BACKLOG: LiteralString = """
SELECT count(*),
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM outbox.outbox_events
WHERE status = 'pending' AND next_attempt_at <> 'infinity'"""

STATUS_COUNTS: LiteralString = """
SELECT status, count(*),
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()),
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at = 'infinity'),
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM outbox.outbox_events
GROUP BY status"""

LIST_DEAD: LiteralString = """
SELECT id, event_type, aggregate_type, aggregate_id, partition_key, org_id, attempts,
       max_attempts, last_error, created_at, payload
FROM outbox.outbox_events
WHERE status = 'dead'
ORDER BY seq
LIMIT %s"""

# Replay: dead events start over with fresh attempts; the events parked behind them (same
# partition key) become due again.
REPLAY: LiteralString = """
WITH replayed AS (
    UPDATE outbox.outbox_events
    SET status = 'pending', attempts = 0, next_attempt_at = now()
    WHERE status = 'dead' AND (%(all)s OR id = ANY(%(ids)s::uuid[]))
    RETURNING id, partition_key
), unparked AS (
    UPDATE outbox.outbox_events
    SET next_attempt_at = now()
    WHERE status = 'pending' AND next_attempt_at = 'infinity'
      AND partition_key IN (SELECT partition_key FROM replayed)
)
SELECT id FROM replayed"""

PRUNE_BATCH: LiteralString = """
DELETE FROM outbox.outbox_events
WHERE id IN (SELECT id FROM outbox.outbox_events
             WHERE status = 'published' AND published_at < now() - %s * interval '1 second'
             LIMIT %s
             FOR UPDATE SKIP LOCKED)"""
