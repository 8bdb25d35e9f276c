-- Row-level security for the analytics tables (see identity V10); monthly partitions get
-- theirs from dealership.ensure_analytics_partitions.
ALTER TABLE "dealership"."car_views" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."car_views" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."car_views";
CREATE POLICY "pgkeel_tenant" ON "dealership"."car_views"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."page_views" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."page_views" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."page_views";
CREATE POLICY "pgkeel_tenant" ON "dealership"."page_views"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."web_vitals" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."web_vitals" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."web_vitals";
CREATE POLICY "pgkeel_tenant" ON "dealership"."web_vitals"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."car_views_default" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."car_views_default" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."car_views_default";
CREATE POLICY "pgkeel_tenant" ON "dealership"."car_views_default"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."page_views_default" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."page_views_default" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."page_views_default";
CREATE POLICY "pgkeel_tenant" ON "dealership"."page_views_default"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."web_vitals_default" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."web_vitals_default" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."web_vitals_default";
CREATE POLICY "pgkeel_tenant" ON "dealership"."web_vitals_default"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."car_view_daily" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."car_view_daily" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."car_view_daily";
CREATE POLICY "pgkeel_tenant" ON "dealership"."car_view_daily"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
