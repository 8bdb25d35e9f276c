-- pgkeel: transaction=off
-- Published events no longer stay in outbox_events, so its retention index has nothing to
-- find. Dropped without blocking the producers and relays that use the table.
DROP INDEX CONCURRENTLY IF EXISTS outbox.outbox_events_published;
