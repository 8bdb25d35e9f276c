-- pgkeel: transaction=off
-- The report's idx_roles_org_active on roles (organization_id, is_active), built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_roles_org_active ON roles (organization_id, is_active);
