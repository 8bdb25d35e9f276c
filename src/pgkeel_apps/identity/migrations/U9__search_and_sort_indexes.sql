-- pgkeel: transaction=off
DROP INDEX CONCURRENTLY IF EXISTS idx_users_display_name_trgm;
DROP INDEX CONCURRENTLY IF EXISTS idx_users_email_trgm;
DROP INDEX CONCURRENTLY IF EXISTS idx_users_org_updated;
DROP INDEX CONCURRENTLY IF EXISTS idx_users_org_display_name;
