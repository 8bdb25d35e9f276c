DROP FUNCTION IF EXISTS identity.verification_token_owner(bytea);
DROP TABLE IF EXISTS accounts;
DROP TABLE IF EXISTS verification_tokens;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
ALTER TABLE users DROP COLUMN IF EXISTS last_login_at;
