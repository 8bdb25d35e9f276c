-- pgkeel: transaction=off
DROP INDEX CONCURRENTLY IF EXISTS customer_tags_name_idx;
