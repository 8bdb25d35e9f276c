-- Dynamic configuration (seed 003): key -> JSON value per organization, cached for a week and
-- invalidated when written.
CREATE TABLE system_config (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    key             text NOT NULL CONSTRAINT system_config_key_format CHECK (key ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    value           jsonb NOT NULL,
    updated_by      uuid,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, key)
);
ALTER TABLE "dealership"."system_config" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."system_config" FORCE ROW LEVEL SECURITY;
CREATE POLICY "pgkeel_tenant" ON "dealership"."system_config"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
