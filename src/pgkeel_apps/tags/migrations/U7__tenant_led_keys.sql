-- pgkeel: transaction=off
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS customer_tags_pkey_id ON customer_tags (id);
ALTER TABLE customer_tags DROP CONSTRAINT customer_tags_pkey, ADD CONSTRAINT customer_tags_pkey PRIMARY KEY USING INDEX customer_tags_pkey_id;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS customer_tag_assignments_pkey_id ON customer_tag_assignments (id);
ALTER TABLE customer_tag_assignments DROP CONSTRAINT customer_tag_assignments_pkey, ADD CONSTRAINT customer_tag_assignments_pkey PRIMARY KEY USING INDEX customer_tag_assignments_pkey_id;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "customerId_tagId_pair" ON customer_tag_assignments (customer_id, tag_id);
ALTER TABLE customer_tag_assignments DROP CONSTRAINT "customerId_tagId", ADD CONSTRAINT "customerId_tagId" UNIQUE USING INDEX "customerId_tagId_pair";
