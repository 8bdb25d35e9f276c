-- pgkeel: transaction=off
-- The report's customer_tag_assignments_assignedBy_idx (admin action queries), led by the tenant column.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "customer_tag_assignments_assignedBy_idx" ON customer_tag_assignments (organization_id, assigned_by);
