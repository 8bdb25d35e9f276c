-- pgkeel audit, part 5: the writing transaction's id from pg_current_xact_id(), which replaces
-- the deprecated txid_current(). Both return the same 64-bit, epoch-extended id, so existing
-- rows and the hash chain's canonical text (txid as decimal text) are unchanged.
ALTER TABLE audit.audit_log ALTER COLUMN txid SET DEFAULT pg_current_xact_id()::text::bigint;

COMMENT ON COLUMN audit.audit_log.txid IS
    'pg_current_xact_id() of the writing transaction; NULL for events written by the appender';
