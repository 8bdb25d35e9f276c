-- pgkeel: transaction=off
-- The report's idx_roles_org_name on roles (organization_id, name), built without blocking writes.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_roles_org_name ON roles (organization_id, name);
