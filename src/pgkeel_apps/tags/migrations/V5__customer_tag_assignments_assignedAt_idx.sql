-- pgkeel: transaction=off
-- The report's customer_tag_assignments_assignedAt_idx (sorting by date), led by the tenant column.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "customer_tag_assignments_assignedAt_idx" ON customer_tag_assignments (organization_id, assigned_at);
