"""The SQL the relay and the admin functions run, as named constants."""

from __future__ import annotations

from typing import LiteralString

# The claiming transaction's settings, run first in it. The lease: the server ends a claiming
# transaction left idle (a relay that hangs or lost its network) after this many milliseconds,
# which releases its locks. No sorting: the claim must walk the due index in its order and stop
# after `limit` rows. The planner cannot know how many due events a worker's share of the keys
# holds (nothing estimates the hash filter: it assumes 0.5 %), so with the values in the plan
# -- every execution of an unprepared statement, and a prepared one's first five -- it chose
# to read and sort the whole backlog of the share (600 ms against 70 ms for 5,000 of 100,000
# on the bench machine). The index gives the order, so nothing in the claiming transaction
# (claim, push back, mark) needs a sort.
CLAIM_SETTINGS: LiteralString = (
    "SELECT set_config('idle_in_transaction_session_timeout', %s, true),"
    " set_config('enable_sort', 'off', true)")

# Claim a batch: lock it for the claiming transaction, which lasts while the relay publishes.
# Candidates are due pending events, highest priority first, then oldest due time, locked with
# SKIP LOCKED so concurrent relays never wait on one another; they carry every column the relay
# sends, so no claimed row is looked up twice, and the id and payload as text (the Redis sink
# writes them as they are). Each candidate with a partition key also carries `before`: the seq
# of the key's last unpublished event before it (one probe of the key-order index each). The
# relay claims a key's candidates only while they start at the key's head (`before` is NULL)
# and leave no gap (each one's `before` is the previous candidate), so a key's event is never
# claimed while an earlier one is unpublished -- backing off, dead, or locked by another relay;
# the others are pushed back (`PUSH_BACK`) in the same transaction. A relay's workers split the
# keys between them (`%(shards)s` workers, this one `%(shard)s`, by a hash of the key; events
# without a key go to any), so they never hold up one another's keys; one worker claims all.
CLAIM: LiteralString = """
SELECT c.id::text, c.event_type, c.aggregate_type, c.aggregate_id, c.payload::text,
       CASE WHEN c.headers <> '{}' THEN c.headers::text END, c.partition_key, c.org_id,
       c.created_at, c.attempts, c.max_attempts, c.seq,
       (SELECT p.seq FROM outbox.outbox_events p
        WHERE p.partition_key = c.partition_key AND p.status <> 'published' AND p.seq < c.seq
        ORDER BY p.seq DESC
        LIMIT 1)
FROM (SELECT id, event_type, aggregate_type, aggregate_id, payload, headers, partition_key,
             org_id, created_at, attempts, max_attempts, seq
      FROM outbox.outbox_events
      WHERE status = 'pending' AND next_attempt_at <= now()
        AND (%(shards)s::int = 1 OR partition_key IS NULL
             OR mod(hashtext(partition_key)::bigint + 2147483648, %(shards)s) = %(shard)s)
      ORDER BY priority DESC, next_attempt_at, seq
      LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) c"""

# Claimed events that wait behind an earlier event of their key are pushed back, so they do
# not crowd the next batch: to the key's head's due time when the head backs off, to
# 'infinity' (parked until a replay) behind a dead head, and by %s seconds otherwise. They
# stay locked by the claiming transaction until it commits.
PUSH_BACK: LiteralString = """
WITH pushed AS (
    UPDATE outbox.outbox_events e
    SET next_attempt_at = (
        SELECT CASE WHEN head.status = 'dead' THEN 'infinity'::timestamptz
                    ELSE greatest(now() + %s * interval '1 second',
                                  CASE WHEN head.status = 'pending'
                                       THEN head.next_attempt_at END)
               END
        FROM outbox.outbox_events head
        WHERE head.partition_key = e.partition_key AND head.status <> 'published'
        ORDER BY head.seq
        LIMIT 1)
    WHERE e.id = ANY(%s::uuid[])
    RETURNING 1
)
SELECT count(*) FROM pushed"""

# Acknowledged events move to the archive: deleted from the queue table, inserted into
# outbox_published with their publishing time. A DELETE writes no new row version in the queue
# table nor any of its index entries, and the archive's one index is a BRIN.
MARK_PUBLISHED: LiteralString = """
WITH moved AS (
    DELETE FROM outbox.outbox_events
    WHERE id = ANY(%s::uuid[])
    RETURNING id, seq, org_id, aggregate_type, aggregate_id, event_type, payload, headers,
              partition_key, priority, attempts, max_attempts, last_error, created_at
), kept AS (
    INSERT INTO outbox.outbox_published
    SELECT id, seq, org_id, aggregate_type, aggregate_id, event_type, payload, headers,
           partition_key, priority, attempts + 1, max_attempts, last_error, created_at, now()
    FROM moved
    RETURNING 1
)
SELECT count(*) FROM kept"""

# With no retention (`keep_published=False`), acknowledged events are deleted and not kept.
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

# The queue table by status, and the archive's count as 'published'.
STATUS_COUNTS: LiteralString = """
SELECT status, count(*),
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()),
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at = 'infinity'),
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM outbox.outbox_events
GROUP BY status
UNION ALL
SELECT 'published', count(*), 0, 0, 0 FROM outbox.outbox_published"""

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

# One batch of the archive's rows published before the retention, by row address (the archive
# has no key: nothing looks a published event up but people, through the events view).
PRUNE_BATCH: LiteralString = """
DELETE FROM outbox.outbox_published
WHERE ctid = ANY(ARRAY(SELECT ctid FROM outbox.outbox_published
                       WHERE published_at < now() - %s * interval '1 second'
                       LIMIT %s
                       FOR UPDATE SKIP LOCKED))"""
