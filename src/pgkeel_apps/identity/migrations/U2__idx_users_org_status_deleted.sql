-- pgkeel: transaction=off
-- The report's rollback command for idx_users_org_status_deleted.
DROP INDEX CONCURRENTLY IF EXISTS idx_users_org_status_deleted;
