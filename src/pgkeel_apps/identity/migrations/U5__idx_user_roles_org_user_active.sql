-- pgkeel: transaction=off
-- The report's rollback command for idx_user_roles_org_user_active.
DROP INDEX CONCURRENTLY IF EXISTS idx_user_roles_org_user_active;
