-- pgkeel: transaction=off
-- The report's idx_users_org_created on users (organization_id, created_at DESC), built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_created ON users (organization_id, created_at DESC);
