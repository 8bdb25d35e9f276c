-- pgkeel: transaction=off
-- Primary keys led by the tenant, so every identity table can be distributed by organization
-- (Citus needs the distribution column in each primary key and unique constraint). Each new
-- key's index is built first, without blocking writes; the swap is one short ALTER.
-- The (organization_id, id) unique constraints stay: the composite foreign keys use them.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_pkey_tenant ON users (organization_id, id);
ALTER TABLE users DROP CONSTRAINT users_pkey, ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pkey_tenant;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS roles_pkey_tenant ON roles (organization_id, id);
ALTER TABLE roles DROP CONSTRAINT roles_pkey, ADD CONSTRAINT roles_pkey PRIMARY KEY USING INDEX roles_pkey_tenant;
-- A session is found by its token before the organization is known (session_principal): the
-- token keeps an index of its own; 256 random bits keep it unique.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_token ON sessions (token_hash);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS sessions_pkey_tenant ON sessions (organization_id, token_hash);
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey, ADD CONSTRAINT sessions_pkey PRIMARY KEY USING INDEX sessions_pkey_tenant;
