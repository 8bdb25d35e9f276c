-- pgkeel: transaction=off
-- Fails (and leaves the partial index in place) when a live and a deleted user share an email.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org_email ON users (organization_id, email);
DROP INDEX CONCURRENTLY IF EXISTS idx_users_org_email_live;
