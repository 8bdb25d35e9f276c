-- pgkeel: transaction=off
-- pgkeel audit, part 8: event ids for the rows written before part 7, in batches of 10,000
-- rows per transaction (writers are never blocked), then the NOT NULL check is validated
-- (SHARE UPDATE EXCLUSIVE: writers go on).
CALL audit.backfill_event_ids(10000);
ALTER TABLE audit.audit_log VALIDATE CONSTRAINT audit_log_event_id_not_null;
