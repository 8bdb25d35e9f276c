-- pgkeel: transaction=off
-- The report's rollback command for idx_users_org_email.
DROP INDEX CONCURRENTLY IF EXISTS idx_users_org_email;
