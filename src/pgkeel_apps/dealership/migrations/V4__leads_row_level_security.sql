-- Row-level security for the lead tables (see identity V10).
ALTER TABLE "dealership"."contact_submissions" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."contact_submissions" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."contact_submissions";
CREATE POLICY "pgkeel_tenant" ON "dealership"."contact_submissions"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."contact_notes" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."contact_notes" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."contact_notes";
CREATE POLICY "pgkeel_tenant" ON "dealership"."contact_notes"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."contact_activities" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."contact_activities" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."contact_activities";
CREATE POLICY "pgkeel_tenant" ON "dealership"."contact_activities"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
