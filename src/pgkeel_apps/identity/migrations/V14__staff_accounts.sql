-- Staff accounts (the dealership report, seed 003): when a user last logged in, when their
-- email was verified, single-use tokens for email verification and password reset (stored
-- as SHA-256 digests, expiring), and OAuth provider links.
ALTER TABLE users ADD COLUMN last_login_at timestamptz;
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE verification_tokens (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    token_hash      bytea NOT NULL CONSTRAINT verification_tokens_hash_length CHECK (length(token_hash) = 32),
    user_id         uuid NOT NULL,
    purpose         text NOT NULL
                    CONSTRAINT verification_tokens_purpose_valid CHECK (purpose IN ('EMAIL_VERIFICATION', 'PASSWORD_RESET')),
    email           text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, token_hash),
    CONSTRAINT verification_tokens_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_verification_tokens_user ON verification_tokens (organization_id, user_id, purpose);
CREATE INDEX idx_verification_tokens_expires ON verification_tokens (expires_at);

CREATE TABLE accounts (
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL,
    type                text NOT NULL CONSTRAINT accounts_type_valid CHECK (type IN ('oauth', 'oidc', 'email')),
    provider            text NOT NULL CONSTRAINT accounts_provider_length CHECK (length(provider) BETWEEN 1 AND 50),
    provider_account_id text NOT NULL CONSTRAINT accounts_provider_account_length CHECK (length(provider_account_id) BETWEEN 1 AND 255),
    refresh_token       text,
    access_token        text,
    expires_at          timestamptz,
    token_type          text,
    scope               text,
    id_token            text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT accounts_provider_account_key UNIQUE (organization_id, provider, provider_account_id),
    CONSTRAINT accounts_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_accounts_user ON accounts (organization_id, user_id);

-- The token's owner, before any organization is known (the caller holds only the token):
-- like session_principal, keyed by the token's digest, answering for that one token.
CREATE FUNCTION identity.verification_token_owner(p_token_hash bytea)
RETURNS TABLE (organization_id uuid, user_id uuid, purpose text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.organization_id, t.user_id, t.purpose FROM identity.verification_tokens AS t
    WHERE t.token_hash = p_token_hash
$$;
REVOKE ALL ON FUNCTION identity.verification_token_owner(bytea) FROM PUBLIC;

ALTER TABLE "identity"."verification_tokens" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "identity"."verification_tokens" FORCE ROW LEVEL SECURITY;
CREATE POLICY "pgkeel_tenant" ON "identity"."verification_tokens"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "identity"."accounts" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "identity"."accounts" FORCE ROW LEVEL SECURITY;
CREATE POLICY "pgkeel_tenant" ON "identity"."accounts"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
