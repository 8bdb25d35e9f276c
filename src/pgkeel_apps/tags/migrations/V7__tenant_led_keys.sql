-- pgkeel: transaction=off
-- Keys led by the tenant, so both tables can be distributed by organization (Citus needs the
-- distribution column in each primary key and unique constraint). Each new index is built
-- first, without blocking writes; each swap is one short ALTER, and keeps its name (the
-- constraint customerId_tagId is what a 409 names).
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS customer_tags_pkey_tenant ON customer_tags (organization_id, id);
ALTER TABLE customer_tags DROP CONSTRAINT customer_tags_pkey, ADD CONSTRAINT customer_tags_pkey PRIMARY KEY USING INDEX customer_tags_pkey_tenant;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS customer_tag_assignments_pkey_tenant ON customer_tag_assignments (organization_id, id);
ALTER TABLE customer_tag_assignments DROP CONSTRAINT customer_tag_assignments_pkey, ADD CONSTRAINT customer_tag_assignments_pkey PRIMARY KEY USING INDEX customer_tag_assignments_pkey_tenant;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "customerId_tagId_tenant" ON customer_tag_assignments (organization_id, customer_id, tag_id);
ALTER TABLE customer_tag_assignments DROP CONSTRAINT "customerId_tagId", ADD CONSTRAINT "customerId_tagId" UNIQUE USING INDEX "customerId_tagId_tenant";
