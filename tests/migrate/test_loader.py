"""Reading migration files: names, headers, checksums (CRLF / BOM never drift), errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgkeel.errors import InvalidMigrationFile, MigrationError
from pgkeel.migrate import CHECKSUM_ALGO, MigrationKind, checksum, load_directory, normalize
from pgkeel.migrate.loader import load_file, parse_duration_ms

from .conftest import Files


def test_names_versions_and_descriptions(files: Files):
    files.write("V1_1__add_users_table.sql", "SELECT 1;")
    files.write("V2__second.sql", "SELECT 2;")
    files.write("U2__second.sql", "SELECT 3;")
    files.write("R__views.sql", "SELECT 4;")
    files.write("README.md", "not a migration")
    loaded = load_directory(files.root)
    first = loaded.versioned[0]
    assert (str(first.version), first.description, first.script) == (
        "1.1", "add users table", "V1_1__add_users_table.sql")
    assert first.kind is MigrationKind.VERSIONED
    assert [f.script for f in loaded.repeatable] == ["R__views.sql"]
    assert loaded.undo[loaded.versioned[1].version].script == "U2__second.sql"


def test_subdirectories_are_read_and_hidden_ones_skipped(files: Files):
    (files.root / "2024").mkdir()
    (files.root / ".trash").mkdir()
    files.write("2024/V3__nested.sql", "SELECT 1;")
    files.write(".trash/V4__ignored.sql", "SELECT 1;")
    assert [f.script for f in load_directory(files.root).versioned] == ["V3__nested.sql"]


@pytest.mark.parametrize("name", ["V1_desc.sql", "v1__lower.sql", "V__noversion.sql",
                                  "Vx__bad.sql", "R_single.sql", "X1__other.sql"])
def test_a_sql_file_with_a_bad_name_is_an_error_not_skipped(files: Files, name: str):
    files.write(name, "SELECT 1;")
    with pytest.raises(InvalidMigrationFile, match=name.replace(".", r"\.")):
        load_directory(files.root)


def test_duplicate_versions_are_an_error(files: Files):
    files.write("V1__a.sql", "SELECT 1;")
    files.write("V1.0__b.sql", "SELECT 1;")
    with pytest.raises(InvalidMigrationFile, match="same version"):
        load_directory(files.root)


def test_undo_without_its_versioned_file_is_an_error(files: Files):
    files.write("V1__a.sql", "SELECT 1;")
    files.write("U2__b.sql", "SELECT 1;")
    with pytest.raises(InvalidMigrationFile, match="no V2 file"):
        load_directory(files.root)


def test_missing_directory(tmp_path):
    with pytest.raises(MigrationError, match="does not exist"):
        load_directory(tmp_path / "nope")


def test_header_options(files: Files):
    path = files.write("V1__idx.sql", """
        -- pgkeel: transaction=off
        -- pgkeel: lock_timeout=2s statement_timeout=10min lock_retries=7 out_of_order=allow
        CREATE INDEX CONCURRENTLY i ON t (a);
        """)
    options = load_file(path).options
    assert options.transactional is False
    assert options.lock_timeout_ms == 2000
    assert options.statement_timeout_ms == 600_000
    assert options.lock_retries == 7
    assert options.out_of_order is True


@pytest.mark.parametrize(("header", "message"), [
    ("-- pgkeel: transactions=off", "unknown setting 'transactions'"),
    ("-- pgkeel: transaction=maybe", "transaction must be on or off"),
    ("-- pgkeel: lock_timeout=soon", "invalid duration"),
])
def test_a_typo_in_a_header_is_an_error(files: Files, header: str, message: str):
    path = files.write("V1__x.sql", f"{header}\nSELECT 1;\n")
    with pytest.raises(InvalidMigrationFile, match=message):
        load_file(path)


def test_settings_after_the_first_statement_are_refused(files: Files):
    path = files.write("V1__x.sql", "SELECT 1;\n-- pgkeel: transaction=off\nSELECT 2;\n")
    with pytest.raises(InvalidMigrationFile, match=r"V1__x\.sql:2: .*before the first"):
        load_file(path)


def test_unterminated_sql_names_file_and_line(files: Files):
    path = files.write("V1__x.sql", "SELECT 1;\nSELECT 'oops;\nSELECT 3;\n")
    with pytest.raises(InvalidMigrationFile, match=r"V1__x\.sql:2: unterminated string"):
        load_file(path)


def test_non_utf8_is_refused(files: Files):
    path = files.write("V1__x.sql", "", raw="SELECT 'caf\xe9';".encode("latin-1"))
    with pytest.raises(InvalidMigrationFile, match="not valid UTF-8"):
        load_file(path)


def test_crlf_and_bom_variants_have_the_same_checksum(files: Files):
    text = "CREATE TABLE t (\n  a int\n);\nINSERT INTO t VALUES (1);\n"
    variants = {
        "V1__lf.sql": text.encode(),
        "V2__crlf.sql": text.replace("\n", "\r\n").encode(),
        "V3__bom.sql": b"\xef\xbb\xbf" + text.encode(),
        "V4__bom_crlf.sql": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
        "V5__cr.sql": text.replace("\n", "\r").encode(),
    }
    for name, raw in variants.items():
        files.write(name, "", raw=raw)
    loaded = load_directory(files.root).versioned
    assert len({f.checksum for f in loaded}) == 1
    assert {len(f.statements) for f in loaded} == {2}
    assert {f.statements[1].line for f in loaded} == {4}
    assert loaded[0].checksum == checksum(text) != checksum(text + " ")
    assert CHECKSUM_ALGO == "sha256-lf"


def test_checksum_ignores_the_path(files: Files):
    a = files.write("V1__a.sql", "SELECT 1;\n")
    b = files.write("V7__renamed.sql", "SELECT 1;\n")
    assert load_file(a).checksum == load_file(b).checksum


@given(st.text())
def test_line_endings_and_bom_never_change_the_checksum(text):
    lf = normalize(text)
    assert checksum(lf) == checksum("\ufeff" + lf.replace("\n", "\r\n"))
    assert checksum(lf) == checksum(lf.replace("\n", "\r").encode())
    assert normalize(normalize(text)) == normalize(text)
    assert "\r" not in normalize(text)


@given(st.text(min_size=1), st.text(min_size=1))
def test_different_content_has_a_different_checksum(a, b):
    if normalize(a) != normalize(b):
        assert checksum(a) != checksum(b)


@pytest.mark.parametrize(("text", "ms"), [("500ms", 500), ("5s", 5000), ("2min", 120_000),
                                          ("1h", 3_600_000), ("250", 250), ("0", 0)])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms
