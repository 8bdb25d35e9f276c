"""Repositories take the cursor key from CURSOR_SECRET by default, so a cursor issued by one
worker is accepted by another (another Database, another process)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from pgkeel.db import Database, use_context
from pgkeel.errors import InvalidParameter
from pgkeel.repo import Repository, parse_list_params
from pgkeel.repo.cursor import default_codec
from tests.repo.conftest import ORG_A, people_table

SECRET = "a-cursor-secret-shared-by-every-worker"


async def test_a_cursor_from_one_repository_works_in_another(people, pgkeel_settings):
    settings = pgkeel_settings.model_copy(update={"cursor_secret": SecretStr(SECRET)})
    table = people_table(people.table.schema)
    async with (Database.from_settings(settings, min_size=1) as one,
                Database.from_settings(settings, min_size=1) as two):
        first, second = Repository(one, table), Repository(two, table)
        with use_context(org_id=ORG_A):
            page = await first.list(parse_list_params(table, [("limit", "4")]))
            assert page.next_cursor
            following = await second.list(parse_list_params(
                table, [("limit", "4"), ("cursor", page.next_cursor)]))
        assert [r["id"] for r in following.items]
        assert not {r["id"] for r in following.items} & {r["id"] for r in page.items}


async def test_a_cursor_made_in_another_process_is_accepted(people, pgkeel_settings):
    settings = pgkeel_settings.model_copy(update={"cursor_secret": SecretStr(SECRET)})
    table = people_table(people.table.schema)
    binding = "sorted-by-id"
    made = subprocess.run(
        [sys.executable, "-c",
         "from pgkeel.repo.cursor import default_codec;"
         f"print(default_codec().encode([7], backward=False, binding={binding!r}))"],
        env={**os.environ, "CURSOR_SECRET": SECRET, "APP_ENV": "test"},
        capture_output=True, text=True, check=True).stdout.strip()
    keys = parse_list_params(table, [("sort", "id")]).sort[:1]
    async with Database.from_settings(settings, min_size=1) as db:
        codec = Repository(db, table).codec
        assert codec is default_codec(settings)
        assert codec.decode(made, keys=keys, binding=binding) == ([7], False)
        other = default_codec(settings.model_copy(
            update={"cursor_secret": SecretStr("another-secret-of-16-bytes")}))
        with pytest.raises(InvalidParameter):
            other.decode(made, keys=keys, binding=binding)
