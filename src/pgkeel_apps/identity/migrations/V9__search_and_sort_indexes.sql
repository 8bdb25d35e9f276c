-- pgkeel: transaction=off
-- Indexes for what the list endpoint lets clients do beyond the report's: sort by name and
-- update time within an organization, and substring search (q) on email and name.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_display_name ON users (organization_id, display_name);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_updated ON users (organization_id, updated_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_trgm ON users USING gin (email gin_trgm_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_display_name_trgm ON users USING gin (display_name gin_trgm_ops);
