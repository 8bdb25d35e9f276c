"""The dangerous-DDL linter: each rule fires on the dangerous form and not on its safe
alternative; suppression comments work; strings and comments never trigger a rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgkeel.migrate import RULES, Severity, lint_files
from pgkeel.migrate.lint import lint_file
from pgkeel.migrate.loader import load_directory, load_file

from .conftest import Files


def codes(sql: str, name: str = "V2__x.sql") -> list[str]:
    return [f.code for f in lint_file(load_file(Path(name), sql.encode()))]


OFF = "-- pgkeel: transaction=off\n"

DANGEROUS = [
    ("CREATE INDEX i ON users (email);", "PGK001"),
    ("CREATE UNIQUE INDEX IF NOT EXISTS i ON app.users (email);", "PGK001"),
    ("DROP INDEX i;", "PGK002"),
    ("REINDEX TABLE users;", "PGK003"),
    ("CREATE INDEX CONCURRENTLY i ON users (email);", "PGK004"),
    ("VACUUM users;", "PGK004"),
    ("ALTER TABLE users ADD COLUMN age int NOT NULL;", "PGK005"),
    ("ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", "PGK006"),
    ("ALTER TABLE users ADD COLUMN n bigserial;", "PGK006"),
    ("ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;", "PGK006"),
    ("ALTER TABLE users ADD COLUMN t text GENERATED ALWAYS AS (lower(e)) STORED;", "PGK006"),
    ("ALTER TABLE users ALTER COLUMN age TYPE bigint;", "PGK007"),
    ("ALTER TABLE users ALTER age SET DATA TYPE bigint;", "PGK007"),
    ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "PGK008"),
    ("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);",
     "PGK009"),
    ("ALTER TABLE orders ADD CHECK (total >= 0);", "PGK009"),
    ("ALTER TABLE users ADD CONSTRAINT u UNIQUE (email);", "PGK010"),
    ("ALTER TABLE users ADD PRIMARY KEY (id);", "PGK010"),
    ("ALTER TABLE users ADD COLUMN code text UNIQUE;", "PGK010"),
    ("ALTER TABLE users DROP COLUMN age;", "PGK011"),
    ("DROP TABLE users;", "PGK012"),
    ("ALTER TABLE users RENAME COLUMN email TO mail;", "PGK013"),
    ("ALTER TABLE users RENAME TO people;", "PGK013"),
    ("BEGIN;", "PGK014"),
    ("COMMIT;", "PGK014"),
    ("SET lock_timeout = 0;", "PGK015"),
    ("-- pgkeel: lock_timeout=1min\nSELECT 1;", "PGK015"),
    ("VACUUM FULL users;", "PGK016"),
    ("CLUSTER users USING users_pkey;", "PGK016"),
    ("REFRESH MATERIALIZED VIEW stats;", "PGK017"),
    ("CREATE TABLE t (id bigint, at timestamp);", "PGK018"),
    ("CREATE TABLE t (id bigint, at timestamp without time zone);", "PGK018"),
    ("CREATE TABLE t (id bigint, name varchar(40));", "PGK019"),
    ("CREATE TABLE t (id bigint, code character varying(3));", "PGK019"),
    ("CREATE TABLE " + "x" * 64 + " (id bigint);", "PGK020"),
    ("CREATE TABLE t (id serial PRIMARY KEY);", "PGK021"),
    ("CREATE TABLE t (id integer PRIMARY KEY, n text);", "PGK021"),
    ("ALTER TABLE events DETACH PARTITION events_2020;", "PGK022"),
]

SAFE = [
    OFF + "CREATE INDEX CONCURRENTLY i ON users (email);",
    OFF + "DROP INDEX CONCURRENTLY IF EXISTS i;",
    OFF + "REINDEX INDEX CONCURRENTLY i;",
    OFF + "VACUUM users;",
    "CREATE TABLE users (id bigint); CREATE INDEX i ON users (id); DROP INDEX i;",
    "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;",
    "ALTER TABLE users ADD COLUMN created timestamptz NOT NULL DEFAULT now();",
    "ALTER TABLE users ADD COLUMN note text;",
    "ALTER TABLE users ALTER COLUMN age SET DEFAULT random();",
    "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;",
    "ALTER TABLE orders VALIDATE CONSTRAINT fk;",
    "ALTER TABLE orders ADD CONSTRAINT c CHECK (total >= 0) NOT VALID;",
    "ALTER TABLE users ADD CONSTRAINT u UNIQUE USING INDEX users_email_key;",
    "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
    "ALTER TABLE users DROP CONSTRAINT u;",
    "ALTER TABLE users RENAME CONSTRAINT a TO b;",
    "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz,"
    " name text, n numeric(10, 2));",
    "CREATE TABLE t (id bigint); ALTER TABLE t ADD COLUMN a int NOT NULL;"
    " ALTER TABLE t ALTER COLUMN a TYPE bigint; ALTER TABLE t ADD PRIMARY KEY (id);"
    " ALTER TABLE t DROP COLUMN a; DROP TABLE t;",
    "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x; REFRESH MATERIALIZED VIEW mv;",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY stats;",
    "SET LOCAL lock_timeout = '2s';",
    "SELECT 'CREATE INDEX i ON users (email); DROP TABLE users; BEGIN';",
    "-- DROP TABLE users; CREATE INDEX i ON t (a)\nSELECT 1;",
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE x; COMMIT; END $$;",
    "DO $$ BEGIN EXECUTE 'ALTER TABLE users DROP COLUMN a'; END $$;",
    "SELECT now()::timestamp, timestamp '2020-01-01';",
    OFF + "ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;",
]


@pytest.mark.parametrize(("sql", "code"), DANGEROUS, ids=[f"{c}-{i}" for i, (_, c) in
                                                          enumerate(DANGEROUS)])
def test_rule_fires(sql, code):
    assert code in codes(sql)


@pytest.mark.parametrize("sql", SAFE, ids=range(len(SAFE)))
def test_safe_alternative_is_clean(sql):
    assert codes(sql) == []


def test_at_least_twelve_rules_each_with_advice():
    assert len(RULES) >= 12
    for code, rule in RULES.items():
        assert code == rule.code and code.startswith("PGK") and rule.name
        assert len(rule.message) > 40
    assert sum(r.severity is Severity.ERROR for r in RULES.values()) >= 12


def test_finding_has_file_line_and_safe_alternative():
    [finding] = lint_file(load_file(Path("V3__idx.sql"),
                                    b"SELECT 1;\n\nCREATE INDEX i\n  ON users (email);\n"))
    assert (finding.script, finding.line, finding.code, finding.rule) == (
        "V3__idx.sql", 3, "PGK001", "index-not-concurrent")
    assert "CONCURRENTLY" in finding.message
    assert str(finding).startswith("V3__idx.sql:3: PGK001 index-not-concurrent [error]")


def test_suppression_by_code_or_name_on_the_line_before_or_inside():
    sql = """\
-- pgkeel: lint-ignore PGK001
CREATE INDEX a ON users (email);
CREATE INDEX b ON users (email); -- pgkeel: lint-ignore index-not-concurrent
CREATE INDEX c ON users (email);
"""
    [finding] = lint_file(load_file(Path("V2__x.sql"), sql.encode()))
    assert (finding.code, finding.line) == ("PGK001", 4)


def test_file_wide_suppression_and_several_codes():
    sql = """\
-- pgkeel: lint-ignore-file PGK011, PGK012
ALTER TABLE users DROP COLUMN a;
DROP TABLE old;
"""
    assert codes(sql) == []


def test_an_ignore_that_suppresses_nothing_is_reported():
    sql = "-- pgkeel: lint-ignore PGK001 no-such-rule\nSELECT 1;\n"
    findings = lint_file(load_file(Path("V2__x.sql"), sql.encode()))
    assert [(f.code, f.line) for f in findings] == [("PGK099", 1), ("PGK099", 1)]
    assert any("NO-SUCH-RULE" in f.message for f in findings)


def test_undo_files_are_not_linted(files: Files):
    files.write("V1__a.sql", "CREATE TABLE a (id bigint);")
    files.write("U1__a.sql", "DROP TABLE a;")
    assert lint_files(load_directory(files.root)) == []
