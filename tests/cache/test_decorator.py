"""`cache.cached(...)`: the decorator for repository reads."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from psycopg import sql

from pgkeel.cache import MISS, TTL
from pgkeel.db import Database, use_context
from pgkeel.errors import TenantRequired, UsageError


@dataclass
class User:
    id: uuid.UUID
    email: str
    created_at: dt.datetime


@pytest.fixture
async def users(pgkeel_db: Database, pgkeel_schema: str) -> sql.Composed:
    table = sql.Identifier(pgkeel_schema, "users")
    await pgkeel_db.execute(sql.SQL(
        "CREATE TABLE {} (id uuid PRIMARY KEY, org_id int, email text, "
        "created_at timestamptz DEFAULT now())").format(table))
    return sql.SQL("{}").format(table)


async def test_a_cached_repository_read_and_its_invalidation(make_cache, pgkeel_db, users):
    cache = make_cache()
    calls = []

    async def get_user(db: Database, user_id: uuid.UUID) -> User | None:
        calls.append(user_id)
        row = await db.fetch_one(sql.SQL("SELECT id, email, created_at FROM {} WHERE id = %s")
                                 .format(users), (user_id,))
        return None if row is None else User(**row)

    cached_get = cache.cached("users", ttl=TTL.MEDIUM, tags=lambda db, user_id: ["users"])(
        get_user)
    uid = uuid.uuid4()
    with use_context(org_id=1):
        assert await cached_get(pgkeel_db, uid) is None      # not found: cached negatively
        assert await cached_get(pgkeel_db, uid) is None
        assert len(calls) == 1

        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("INSERT INTO {} (id, org_id, email) VALUES (%s, 1, %s)")
                             .format(users), (uid, "ada@example.com"))
            cache.invalidate_on_commit(tx, cached_get.key(uid))

        user = await cached_get(pgkeel_db, uid)
        assert isinstance(user, User) and user.email == "ada@example.com"
        assert isinstance(user.created_at, dt.datetime)     # typed from the annotation
        assert await cached_get(pgkeel_db, user_id=uid) == user  # kwargs: same key
        assert len(calls) == 2
        assert cache.redis_key(cached_get.key(uid)).endswith(f"{{1}}:users:{uid}:get_user")

        async with pgkeel_db.transaction() as tx:                # invalidate by tag
            await tx.execute(sql.SQL("UPDATE {} SET email = 'b@example.com'").format(users))
            cache.invalidate_on_commit(tx, "users")
        assert (await cached_get(pgkeel_db, uid)).email == "b@example.com"
    assert await cache.get(cached_get.key(uid, org=2)) is MISS  # another org: another key


async def test_plumbing_arguments_are_not_part_of_the_key(make_cache):
    cache = make_cache()

    async def list_page(db, org_slug: str, page: int = 1, *, size: int = 20) -> list[int]:
        return [page, size]

    cached_list = cache.cached("pages", action="list")(list_page)
    with use_context(org_id=1):
        assert await cached_list(object(), "acme", 2) == [2, 20]
        with pytest.raises(UsageError):
            await cached_list(None, "acme", 1.5)  # a float is not a key part
    assert cached_list.key("acme", 2, 20, org=1).id == ("acme", 2, 20)
    with pytest.raises(TenantRequired):   # outside a tenant: no shared namespace by accident
        await cached_list(object(), "acme", 2)
