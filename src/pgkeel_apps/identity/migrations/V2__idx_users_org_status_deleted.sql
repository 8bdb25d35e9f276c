-- pgkeel: transaction=off
-- The report's idx_users_org_status_deleted on users (organization_id, status, deleted_at), built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_status_deleted ON users (organization_id, status, deleted_at);
