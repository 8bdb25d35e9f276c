DROP POLICY IF EXISTS pgkeel_tenant ON tags.customer_tag_assignments;
ALTER TABLE tags.customer_tag_assignments NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tags.customer_tag_assignments DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS pgkeel_tenant ON tags.customer_tags;
ALTER TABLE tags.customer_tags NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tags.customer_tags DISABLE ROW LEVEL SECURITY;
