-- pgkeel: transaction=off
-- The report's customer_tags_name_idx (name lookups, and names unique per organization), led by the tenant column.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS customer_tags_name_idx ON customer_tags (organization_id, name);
