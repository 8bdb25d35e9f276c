DROP FUNCTION IF EXISTS identity.session_principal(bytea);
DROP FUNCTION IF EXISTS identity.login_lookup(text, text);
