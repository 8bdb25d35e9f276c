DROP POLICY IF EXISTS pgkeel_tenant ON dealership.contact_activities;
ALTER TABLE dealership.contact_activities NO FORCE ROW LEVEL SECURITY;
ALTER TABLE dealership.contact_activities DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS pgkeel_tenant ON dealership.contact_notes;
ALTER TABLE dealership.contact_notes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE dealership.contact_notes DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS pgkeel_tenant ON dealership.contact_submissions;
ALTER TABLE dealership.contact_submissions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE dealership.contact_submissions DISABLE ROW LEVEL SECURITY;
