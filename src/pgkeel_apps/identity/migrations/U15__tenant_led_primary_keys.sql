-- pgkeel: transaction=off
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_pkey_id ON users (id);
ALTER TABLE users DROP CONSTRAINT users_pkey, ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pkey_id;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS roles_pkey_id ON roles (id);
ALTER TABLE roles DROP CONSTRAINT roles_pkey, ADD CONSTRAINT roles_pkey PRIMARY KEY USING INDEX roles_pkey_id;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS sessions_pkey_token ON sessions (token_hash);
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey, ADD CONSTRAINT sessions_pkey PRIMARY KEY USING INDEX sessions_pkey_token;
DROP INDEX CONCURRENTLY IF EXISTS sessions_token;
