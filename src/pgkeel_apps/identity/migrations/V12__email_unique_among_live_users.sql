-- pgkeel: transaction=off
-- An email address is unique among the organization's live users only: re-creating a deleted
-- user's address succeeds like any new one, so the API never reveals that it once existed.
-- The new index is built before the old one goes, so uniqueness holds throughout.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_email_live ON users (organization_id, email) WHERE deleted_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS idx_users_org_email;
