"""The SQL the relay and the admin functions run, as named constants."""

from __future__ import annotations

from typing import LiteralString

# The claim's lease: the server ends a claiming transaction left idle (a relay that hangs or
# lost its network) after this many milliseconds, which releases its locks.
SET_LEASE: LiteralString = (
    "SELECT set_config('idle_in_transaction_session_timeout', %s, true)")

# Claim a batch: lock it for the claiming transaction, which lasts while the relay publishes.
# Candidates are due pending events, highest priority first, then oldest due time, locked with
# SKIP LOCKED so concurrent relays never wait on one another. A candidate with a partition key
# is claimed only when it and every candidate before it in that key sit exactly where the key's
# unpublished events are (compared position by position): the claimed run starts at the key's
# head and has no gap, so a key's event is never claimed while an earlier one is unpublished --
# backing off, dead, or locked by another relay. The other candidates are pushed back instead:
# to the head's due time when the head backs off, to 'infinity' (parked until a replay) behind a
# dead head, and by %(blocked_delay)s seconds otherwise, so they do not crowd the next batch.
# Every candidate is returned (`ok` tells claimed from pushed back), so that a batch of only
# blocked events still counts as progress.
CLAIM: LiteralString = """
WITH candidates AS MATERIALIZED (
    SELECT id, partition_key, seq
    FROM outbox.outbox_events
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY priority DESC, next_attempt_at, seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT id, partition_key, seq,
           row_number() OVER (PARTITION BY partition_key ORDER BY seq) AS rank
    FROM candidates
    WHERE partition_key IS NOT NULL
), keys AS (
    SELECT partition_key, count(*) AS n FROM ranked GROUP BY partition_key
), heads AS (
    SELECT k.partition_key, h.seq, h.status, h.next_attempt_at,
           row_number() OVER (PARTITION BY k.partition_key ORDER BY h.seq) AS rank
    FROM keys k
    CROSS JOIN LATERAL (
        SELECT p.seq, p.status, p.next_attempt_at
        FROM outbox.outbox_events p
        WHERE p.partition_key = k.partition_key AND p.status <> 'published'
        ORDER BY p.seq
        LIMIT k.n
    ) h
), verdicts AS MATERIALIZED (
    SELECT r.id, r.rank,
           bool_and(h.seq IS NOT DISTINCT FROM r.seq)
               OVER (PARTITION BY r.partition_key ORDER BY r.rank) AS ok,
           CASE WHEN first.status = 'dead' THEN 'infinity'::timestamptz
                ELSE greatest(now() + %(blocked_delay)s * interval '1 second',
                              CASE WHEN first.status = 'pending'
                                   THEN first.next_attempt_at END)
           END AS wait_until
    FROM ranked r
    LEFT JOIN heads h ON h.partition_key = r.partition_key AND h.rank = r.rank
    LEFT JOIN heads first ON first.partition_key = r.partition_key AND first.rank = 1
    UNION ALL
    SELECT id, 1, true, NULL FROM candidates WHERE partition_key IS NULL
), pushed_back AS (
    UPDATE outbox.outbox_events e
    SET next_attempt_at = v.wait_until
    FROM verdicts v
    WHERE e.id = v.id AND NOT v.ok
)
SELECT v.ok, v.rank, e.id, e.id::text, e.event_type, e.aggregate_type, e.aggregate_id,
       CASE WHEN v.ok THEN e.payload::text END, CASE WHEN v.ok THEN e.headers::text END,
       e.partition_key, e.org_id, e.created_at, e.attempts, e.max_attempts
FROM verdicts v
JOIN outbox.outbox_events e ON e.id = v.id"""

MARK_PUBLISHED: LiteralString = """
WITH marked AS (
    UPDATE outbox.outbox_events
    SET status = 'published', published_at = now(), attempts = attempts + 1
    WHERE id = ANY(%s::uuid[])
    RETURNING 1
)
SELECT count(*) FROM marked"""

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
