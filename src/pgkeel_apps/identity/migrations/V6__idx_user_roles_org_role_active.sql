-- pgkeel: transaction=off
-- The report's idx_user_roles_org_role_active on user_roles (organization_id, role_id, is_active), built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_user_roles_org_role_active ON user_roles (organization_id, role_id, is_active);
