-- pgkeel: transaction=off
DROP INDEX CONCURRENTLY IF EXISTS "customer_tag_assignments_assignedAt_idx";
