-- Row-level security for the car tables (see identity V10).
ALTER TABLE "dealership"."cars" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."cars" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."cars";
CREATE POLICY "pgkeel_tenant" ON "dealership"."cars"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."car_images" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."car_images" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."car_images";
CREATE POLICY "pgkeel_tenant" ON "dealership"."car_images"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."car_features" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."car_features" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."car_features";
CREATE POLICY "pgkeel_tenant" ON "dealership"."car_features"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));

ALTER TABLE "dealership"."car_specifications" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "dealership"."car_specifications" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "pgkeel_tenant" ON "dealership"."car_specifications";
CREATE POLICY "pgkeel_tenant" ON "dealership"."car_specifications"
    USING ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid))
    WITH CHECK ("organization_id" = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid));
