-- pgkeel: transaction=off
-- The report's rollback command for idx_roles_org_active.
DROP INDEX CONCURRENTLY IF EXISTS idx_roles_org_active;
