"""`create`: the next version, timestamp-style directories, and no overwrites."""

from __future__ import annotations

import pytest

from pgkeel.errors import UsageError
from pgkeel.migrate import Version, create_migration, load_directory
from pgkeel.migrate.scaffold import next_version

from .conftest import Files


def test_next_version_is_one_above_the_highest_whole_version(files: Files):
    assert next_version(files.root) == Version.parse("1")
    files.write("V2__a.sql", "SELECT 1;")
    files.write("V10.3__b.sql", "SELECT 1;")
    assert next_version(files.root) == Version.parse("11")


def test_timestamp_directories_get_a_timestamp(files: Files):
    files.write("V20240101000000__old.sql", "SELECT 1;")
    version = next_version(files.root)
    assert version > Version.parse("20240101000000") and len(str(version)) == 14


def test_created_files_load_and_are_lint_clean(files: Files):
    created = create_migration(files.root, "Add users!", undo=True)
    created += create_migration(files.root, "build index", transactional=False)
    created += create_migration(files.root, "views", repeatable=True)
    assert [p.name for p in created] == ["V1__add_users.sql", "U1__add_users.sql",
                                         "V2__build_index.sql", "R__views.sql"]
    loaded = load_directory(files.root)
    assert [f.options.transactional for f in loaded.versioned] == [True, False]
    assert all(f.statements == () for f in loaded.all_files())


def test_refuses_bad_names_and_overwrites(files: Files):
    with pytest.raises(UsageError, match="not a usable"):
        create_migration(files.root, "!!!")
    create_migration(files.root, "a", version="3")
    with pytest.raises(UsageError, match="already exists"):
        create_migration(files.root, "a", version="3")
    with pytest.raises(UsageError, match="no version"):
        create_migration(files.root, "r", repeatable=True, undo=True)
