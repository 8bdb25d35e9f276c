-- Newsletter subscribers (seed 003) with double opt-in: a subscription is PENDING until its
-- confirmation token comes back; every subscriber has an unsubscribe token. Tokens are stored
-- as SHA-256 digests.
CREATE TABLE newsletter_subscribers (
    organization_id         uuid NOT NULL REFERENCES identity.organizations (id),
    id                      uuid NOT NULL DEFAULT gen_random_uuid(),
    email                   text NOT NULL CONSTRAINT newsletter_subscribers_email_format
                            CHECK (email = lower(email) AND length(email) <= 254 AND email LIKE '%_@_%'),
    status                  text NOT NULL DEFAULT 'PENDING'
                            CONSTRAINT newsletter_subscribers_status_valid CHECK (status IN ('PENDING', 'SUBSCRIBED', 'UNSUBSCRIBED')),
    confirm_token_hash      bytea,
    unsubscribe_token_hash  bytea NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    confirmed_at            timestamptz,
    unsubscribed_at         timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT newsletter_subscribers_email_key UNIQUE (organization_id, email)
);
CREATE UNIQUE INDEX idx_newsletter_confirm_token ON newsletter_subscribers (organization_id, confirm_token_hash)
    WHERE confirm_token_hash IS NOT NULL;
CREATE UNIQUE INDEX idx_newsletter_unsubscribe_token ON newsletter_subscribers (organization_id, unsubscribe_token_hash);

ALTER TABLE "dealership"."newsletter_subscribers" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."newsletter_subscribers" FORCE ROW LEVEL SECURITY;
CREATE POLICY "pgkeel_tenant" ON "dealership"."newsletter_subscribers"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
