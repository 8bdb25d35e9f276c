-- pgkeel: transaction=off
-- The report's idx_user_roles_org_user_active on user_roles (organization_id, user_id, is_active), built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_user_roles_org_user_active ON user_roles (organization_id, user_id, is_active);
