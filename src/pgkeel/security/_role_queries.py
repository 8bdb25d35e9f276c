"""The catalog queries behind `ensure_roles`: a role's attributes and settings, the objects
of a schema someone else owns, its materialized views, and the snapshot that tells whether a
run changed anything."""

from typing import LiteralString

ROLE_ATTRS: LiteralString = (
    "SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,"
    " rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = %s")
FOREIGN_OBJECTS: LiteralString = """
SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE'
            WHEN c.relkind IN ('v') THEN 'VIEW'
            WHEN c.relkind = 'm' THEN 'MATERIALIZED VIEW'
            ELSE 'TABLE' END, n.nspname, c.relname::text, NULL::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND c.relowner <> %(owner)s::regrole
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d   -- extension members; sequences
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid   -- that move
                    AND (d.deptype = 'e'                                       -- with their
                         OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))   -- table
UNION ALL
SELECT CASE WHEN p.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, n.nspname,
       p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid)
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proowner <> %(owner)s::regrole
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                    AND d.deptype = 'e')
"""
ROLE_CONFIG: LiteralString = (
    "SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s"
    " JOIN pg_catalog.pg_roles r ON r.oid = s.setrole"
    " JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase"
    " WHERE r.rolname = %s AND d.datname = current_database()")
MATVIEWS: LiteralString = (
    "SELECT matviewname::text FROM pg_catalog.pg_matviews WHERE schemaname = %s ORDER BY 1")
SNAPSHOT: LiteralString = """
SELECT jsonb_build_object(
  'roles', (SELECT jsonb_agg(jsonb_build_array(r.rolname, r.rolsuper, r.rolinherit,
                     r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolbypassrls)
                     ORDER BY r.rolname)
            FROM pg_catalog.pg_roles r WHERE r.rolname = ANY(%(roles)s)),
  'database', (SELECT d.datacl::text FROM pg_catalog.pg_database d
               WHERE d.datname = current_database()),
  'schemas', (SELECT jsonb_agg(jsonb_build_array(n.nspname, n.nspowner::regrole::text,
                                                 n.nspacl::text) ORDER BY n.nspname)
              FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY(%(schemas)s)),
  'relations', (SELECT jsonb_agg(jsonb_build_array(c.oid::regclass::text,
                                                   c.relowner::regrole::text, c.relacl::text)
                                 ORDER BY c.oid::regclass::text)
                FROM pg_catalog.pg_class c
                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = ANY(%(schemas)s)),
  'functions', (SELECT jsonb_agg(jsonb_build_array(p.oid::regprocedure::text,
                                                   p.proowner::regrole::text, p.proacl::text)
                                 ORDER BY p.oid::regprocedure::text)
                FROM pg_catalog.pg_proc p
                JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = ANY(%(schemas)s)),
  'settings', (SELECT jsonb_agg(jsonb_build_array(s.setrole::regrole::text, s.setconfig::text)
                                ORDER BY s.setrole::regrole::text)
               FROM pg_catalog.pg_db_role_setting s
               WHERE s.setrole::regrole::text = ANY(%(roles)s)
                 AND s.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d
                                      WHERE d.datname = current_database())),
  'defaults', (SELECT jsonb_agg(jsonb_build_array(a.defaclrole::regrole::text,
                                                  a.defaclnamespace::regnamespace::text,
                                                  a.defaclobjtype, a.defaclacl::text)
                                ORDER BY a.defaclrole::regrole::text,
                                         a.defaclnamespace::regnamespace::text,
                                         a.defaclobjtype)
               FROM pg_catalog.pg_default_acl a
               WHERE a.defaclrole::regrole::text = ANY(%(roles)s)))
"""
