-- pgkeel: transaction=off
-- The report's customer_tags_isActive_idx (active tag filtering), led by the tenant column.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "customer_tags_isActive_idx" ON customer_tags (organization_id, is_active);
