"""The statement splitter on tricky SQL: dollar quotes, nested comments, strings, atomic
bodies; and every piece it produces runs on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgkeel.migrate import split_statements
from pgkeel.migrate.splitter import SqlSyntaxError, TokenKind, needs_autocommit, tokenize

TRICKY = (Path(__file__).parent / "tricky.sql").read_text()


def test_tricky_sql_splits_into_whole_statements():
    statements, comments = split_statements(TRICKY)
    starts = [s.text.split(None, 2)[:2] for s in statements]
    assert starts == [["CREATE", "TABLE"], ["INSERT", "INTO"], ["CREATE", "FUNCTION"],
                      ["CREATE", "FUNCTION"], ["DO", "$$"], ["CREATE", "FUNCTION"],
                      ["CREATE", "TABLE"], ["CREATE", "TABLE"], ["CREATE", "RULE"],
                      ["SELECT", "U&'d\\0061t\\+000061;'"]]
    assert [s.line for s in statements] == [2, 5, 7, 15, 17, 24, 29, 29, 30, 32]
    assert statements[2].end_line == 13
    assert statements[2].text.endswith("$fn$")
    assert not any(s.text.endswith(";") for s in statements)
    assert [c.line for c in comments] == [1, 4]  # the others are inside $fn$


def test_every_piece_runs_on_postgresql(pgkeel_database_url, pgkeel_schema):
    statements, _ = split_statements(TRICKY)
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(
            psycopg.sql.Identifier(pgkeel_schema)))
        for statement in statements[:-1]:
            conn.execute(statement.text.encode())
        assert conn.execute(b"SELECT add_one(41), tagged(), atomic_add(NULL, 2)").fetchone() \
            == (42, "inner;", 2)
        conn.execute(b"INSERT INTO log VALUES ('x')")
        assert conn.execute(b"SELECT count(*) FROM log2").fetchone() == (2,)
        row = conn.execute(b'SELECT note FROM "we;ird ""name""" ORDER BY id').fetchall()
        assert row == [("escaped ' quote; and \\",), ("dollar; ",)]


def test_last_statement_without_semicolon_and_empty_statements():
    statements, _ = split_statements(";;\nSELECT 1;;\n\n  SELECT 2  \n")
    assert [(s.text, s.line) for s in statements] == [("SELECT 1", 2), ("SELECT 2", 4)]


def test_line_of_a_reported_position():
    statements, _ = split_statements("\n\nSELECT 1,\n  2,\n  oops\nFROM t;")
    statement = statements[0]
    assert statement.line == 3
    assert statement.line_of(statement.text.index("oops") + 1) == 5


@pytest.mark.parametrize(("sql", "line", "what"), [
    ("SELECT 1;\nSELECT 'open", 2, "string"),
    ("SELECT 1;\n\nSELECT $a$ open $b$", 3, "dollar"),
    ("/* outer /* inner */\nSELECT 1;", 1, "comment"),
    ('SELECT "open', 1, "identifier"),
    ("SELECT E'\\'", 1, "string"),
])
def test_unterminated_constructs_name_their_line(sql, line, what):
    with pytest.raises(SqlSyntaxError, match=what) as info:
        split_statements(sql)
    assert info.value.line == line


@pytest.mark.parametrize(("sql", "alone"), [
    ("CREATE INDEX CONCURRENTLY i ON t (a)", True),
    ("create unique index concurrently if not exists i on t (a)", True),
    ("DROP INDEX CONCURRENTLY i", True),
    ("REINDEX INDEX CONCURRENTLY i", True),
    ("VACUUM (ANALYZE) t", True),
    ("ALTER SYSTEM SET work_mem = '8MB'", True),
    ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", True),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", False),
    ("CREATE INDEX i ON t (a)", False),
    ("SELECT 'CONCURRENTLY'", False),
])
def test_statements_that_cannot_run_in_a_transaction(sql, alone):
    assert needs_autocommit(split_statements(sql)[0][0]) is alone


# -- property: joining generated statements with ';' and splitting gives them back --------

_fragment = st.one_of(
    st.sampled_from(["SELECT 1", "x", "(a; b)", "'semi;colon'", "'it''s'", "E'\\';'",
                     '"quoted;ident"', "$$ body; $$", "$t$ $$; $t$", "/* c; /* n; */ */",
                     "-- line; comment\n", "$1", "a$b", "::int", "1.5"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
)
_statement = st.lists(_fragment, min_size=1, max_size=8).map(" ".join).filter(
    lambda s: s.strip() and not s.rstrip().endswith("-- line; comment")
    and s.replace("-- line; comment\n", "").replace("/* c; /* n; */ */", "").strip())


@given(st.lists(_statement, min_size=1, max_size=6))
def test_split_inverts_join(statements):
    text = ";\n".join(statements) + ";"
    split, _ = split_statements(text)
    expected = [_strip_comments_at_edges(s) for s in statements]
    assert [s.text for s in split] == expected


def _strip_comments_at_edges(statement: str) -> str:
    """What the splitter keeps: from the first to the last code token."""
    tokens = [t for t in tokenize(statement) if t.kind is not TokenKind.COMMENT]
    return statement[tokens[0].start:tokens[-1].end]
