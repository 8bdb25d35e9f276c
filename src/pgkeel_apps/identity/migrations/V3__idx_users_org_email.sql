-- pgkeel: transaction=off
-- The report's idx_users_org_email on users (organization_id, email), built without blocking writes.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_email ON users (organization_id, email);
