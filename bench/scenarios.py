"""The in-process scenarios: each contender does the same work its own idiomatic way.

Contenders:
- `raw_psycopg`  the limit: psycopg 3 and psycopg_pool with hand-written SQL, dict rows (what
                 pgkeel returns), pipelining where a scenario sends several statements. In the
                 cache scenarios it is the raw-driver baseline: redis-py GET + orjson.
- `asyncpg`      asyncpg's pool, `$n` SQL, Records.
- `sqlalchemy`   SQLAlchemy 2 ORM on asyncpg, `async_sessionmaker`, `select(User)`: what its
                 users write.
- `sqlalchemy_core` SQLAlchemy 2 Core on the same engine in autocommit:
                 `connection.execute(select(...))`, no ORM and no BEGIN/ROLLBACK framing.
- `pgkeel`       `Repository`, `audit.record`, `AuditAppender`, `Cache` under `use_context`.

The `_rls` scenarios connect as a role subject to row-level security (the bench's app role):
raw psycopg sends `set_config('pgkeel.org_id', ...)` and the query in one pipeline (its
cheapest safe shape, measured in `bench/ab.py`), pgkeel its repository read.

Every contender reads the same rows in the same order (operation i picks organization and id
i of a shared sample), and every SQL contender sends the statement pgkeel compiles.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import orjson
import redis.asyncio as aioredis
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bench import sql as S
from bench.config import Profile
from bench.dataset import ensure_app_role
from bench.models import AuditLog, BulkUser, User
from bench.timing import Contender, Scenario
from pgkeel import audit
from pgkeel.audit import AuditAppender
from pgkeel.cache import Cache, CacheOptions, RedisBackend
from pgkeel.cache.keys import KeySpace
from pgkeel.cache.tiered import TieredBackend
from pgkeel.db import Database, use_context
from pgkeel.repo import CountMode, ListQuery, Repository, Table, parse_list_params
from pgkeel.repo.compiler import Compiler, Where
from pgkeel.repo.cursor import VERIFIED_MEMO
from pgkeel_apps.identity.tables import USERS

__all__ = ["Env", "build_scenarios", "open_env"]

POOL_SIZE = 10
CACHE_PREFIX = "pgkeel-bench:"
RAW_CACHE_PREFIX = "pgkeel-bench-raw:"
CACHE_TTL_S = 3600   # outlives a slow run: the raw contenders have no loader to refill
PAGE_SIZE = 20
NEW_FIELDS = ["display_name", "email", "is_active", "status"]

BULK_USERS = Table("bench", "bulk_users", USERS.fields, tenant="organization_id",
                   soft_delete="deleted_at", version="version", updated_at="updated_at",
                   default_sort=("-created_at",))


@dataclass
class Env:
    """Every client of every contender, and the shared sample of rows to read."""

    profile: Profile
    url: str
    redis_url: str
    raw: AsyncConnectionPool[AsyncConnection[dict[str, Any]]]
    apg: asyncpg.Pool
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    db: Database
    users: Repository[dict[str, Any]]
    bulk: Repository[dict[str, Any]]
    redis: aioredis.Redis
    cache: Cache
    appender: AuditAppender
    core: AsyncEngine
    app_raw: AsyncConnectionPool[AsyncConnection[dict[str, Any]]]
    app_db: Database
    app_users: Repository[dict[str, Any]]
    l1_cache: Cache
    orgs: list[uuid.UUID] = field(default_factory=list)
    actors: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    ids: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    deep_page: int = 2
    keyset: list[tuple[uuid.UUID, str, dt.datetime, uuid.UUID]] = field(default_factory=list)
    """(org, pgkeel cursor, created_at, id): a position in the middle of each org's list."""
    nonce: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def raw_prefix(self) -> str:
        return f"{RAW_CACHE_PREFIX}{self.nonce}:"

    def org(self, i: int) -> uuid.UUID:
        return self.orgs[i % len(self.orgs)]

    def row(self, i: int) -> tuple[uuid.UUID, uuid.UUID]:
        return self.ids[i % len(self.ids)]

    async def aclose(self) -> None:
        await self.l1_cache.aclose()
        await self.app_db.close()
        await self.app_raw.close()
        await self.appender.close()
        await self.cache.aclose()
        await self.redis.aclose()
        await self.db.close()
        await self.engine.dispose()
        await self.apg.close()
        await self.raw.close()


async def open_env(url: str, redis_url: str, profile: Profile) -> Env:
    """Open every contender's pool (same size each) and pick the shared sample."""
    raw: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
        url, min_size=2, max_size=POOL_SIZE, open=False,
        kwargs={"autocommit": True, "row_factory": dict_row})
    await raw.open(wait=True)
    # asyncpg's pool runs its reset query (advisory unlocks, CLOSE ALL, UNLISTEN *, RESET ALL)
    # on every release by default: one more round trip per operation. These contenders keep no
    # session state, and neither the raw psycopg pool nor pgkeel resets, so a careful user
    # would switch it off: like for like.
    apg = await asyncpg.create_pool(url, min_size=2, max_size=POOL_SIZE, reset=_no_reset)
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1),
                                 pool_size=POOL_SIZE, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    db = Database(url, min_size=2, max_size=POOL_SIZE)
    await db.open()
    client = aioredis.Redis.from_url(redis_url)
    nonce = secrets.token_hex(3)   # this run's own keys and emails
    cache = Cache(RedisBackend(aioredis.Redis.from_url(redis_url), owns_client=True),
                  CacheOptions(prefix=f"{CACHE_PREFIX}{nonce}:", default_ttl_s=CACHE_TTL_S))
    appender = AuditAppender(db)
    await appender.start()
    app_url = ensure_app_role(url)
    app_raw: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
        app_url, min_size=2, max_size=POOL_SIZE, open=False,
        kwargs={"autocommit": True, "row_factory": dict_row})
    await app_raw.open(wait=True)
    app_db = Database(app_url, min_size=2, max_size=POOL_SIZE)
    await app_db.open()
    keyspace = KeySpace(f"{CACHE_PREFIX}{nonce}:l1:")
    l2 = RedisBackend(aioredis.Redis.from_url(redis_url), owns_client=True,
                      publish_channel=keyspace.channel, origin=nonce)
    l1_cache = Cache(TieredBackend(l2, channel=keyspace.channel, origin=nonce,
                                   l1_ttl_s=CACHE_TTL_S),
                     CacheOptions(prefix=keyspace.prefix, default_ttl_s=CACHE_TTL_S))
    env = Env(profile, url, redis_url, raw, apg, engine, sessions, db,
              Repository(db, USERS), Repository(db, BULK_USERS), client, cache, appender,
              engine.execution_options(isolation_level="AUTOCOMMIT"), app_raw, app_db,
              Repository(app_db, USERS), l1_cache, nonce=nonce)
    await _sample(env)
    return env


@asynccontextmanager
async def _borrow(pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]]
                  ) -> AsyncIterator[AsyncConnection[dict[str, Any]]]:
    """A raw connection by getconn/putconn, as pgkeel takes its own: `pool.connection()` also
    enters the connection's context, whose exit runs `commit()` (a no-op in autocommit that
    still costs ~0.8 ms a call on this loaded machine: measured 1.30 vs 0.51 ms for SELECT 1)."""
    conn = await pool.getconn()
    try:
        yield conn
    finally:
        await pool.putconn(conn)


async def _no_reset(conn: asyncpg.Connection) -> None:
    """asyncpg's pool `reset=`: nothing to undo (see `open_env`)."""


async def _sample(env: Env) -> None:
    orgs = await env.db.fetch_all(
        "SELECT o.id, (SELECT u.id FROM identity.users u WHERE u.organization_id = o.id"
        " AND u.email LIKE %s) AS admin, (SELECT count(*) FROM identity.users u"
        " WHERE u.organization_id = o.id AND u.deleted_at IS NULL AND u.is_active) AS active"
        " FROM identity.organizations o ORDER BY o.slug", ("admin@%",), readonly=True)
    env.orgs = [r["id"] for r in orgs]
    env.actors = {r["id"]: r["admin"] for r in orgs}
    fewest = min(int(r["active"]) for r in orgs)
    env.deep_page = max(2, int(0.9 * fewest) // PAGE_SIZE)
    # A fixed pseudo-random sample of live users, interleaved across organizations.
    rows = await env.db.fetch_all(
        "SELECT organization_id, id FROM identity.users WHERE deleted_at IS NULL"
        " ORDER BY md5(id::text) LIMIT %s", (5_000,), readonly=True)
    env.ids = [(r["organization_id"], r["id"]) for r in rows]
    # Keyset: walk to the middle of a few organizations' lists with pgkeel itself, then on
    # one row a page, keeping each cursor and the row it points after (for the raw
    # contenders). That makes more distinct cursors than a codec remembers as verified, so
    # that, as for a client walking a list (which sends each cursor once), every keyset read
    # checks its cursor's signature rather than finding it in the memo.
    step = str(max(1, min(100, fewest // 4)))
    per_org = -(-(VERIFIED_MEMO + 100) // 10)
    for org in env.orgs[:10]:
        with use_context(org_id=org):
            page = await env.users.list(_params(("isActive", "true"), ("limit", step)))
            walked = int(step)
            while walked < fewest // 2 and page.next_cursor:
                page = await env.users.list(_params(
                    ("isActive", "true"), ("limit", step),
                    ("cursor", page.next_cursor)))
                walked += int(step)
            for _ in range(per_org):
                cursor = page.next_cursor
                if not (cursor and page.items):
                    break
                last = page.items[-1]
                env.keyset.append((org, cursor, last["created_at"], last["id"]))
                page = await env.users.list(_params(("isActive", "true"), ("limit", "1"),
                                                    ("cursor", cursor)))
    if not env.keyset:
        raise RuntimeError("the data set is too small for the keyset scenario")


def _params(*pairs: tuple[str, str]) -> ListQuery:
    return parse_list_params(USERS, list(pairs))


def check_same_sql() -> None:
    """Refuse to run if the raw contenders' SQL differs from what pgkeel compiles."""
    from psycopg.rows import dict_row as rows

    from pgkeel.repo.cursor import default_codec
    from pgkeel.repo.listing import build_list

    compiler = Compiler(USERS)
    where = Where()
    compiler.scope(where, "org")
    compiler.key(where, ("id",))
    pairs: list[tuple[object, str]] = [(compiler.select(where), S.GET_USER)]
    for params, expected in (
        ([("isActive", "true"), ("page", "1"), ("count", "exact")],
         [S.LIST_OFFSET, S.COUNT_EXACT]),
        ([("isActive", "true"), ("page", "1"), ("count", "estimated")],
         [S.LIST_OFFSET, S.COUNT_LIMITED]),
        ([("isActive", "true"), ("page", "1"), ("count", "planned")],
         [S.LIST_OFFSET, S.COUNT_PLANNED]),
    ):
        plan = build_list(compiler, default_codec(), _params(*params), "org", rows)
        pairs += [(st[0], exp) for st, exp in zip(plan.statements, expected, strict=True)]
        if plan.planned is not None:   # `estimated`, beyond the threshold
            pairs.append((plan.planned[0], S.COUNT_PLANNED))
    for compiled, hand in pairs:
        text = compiled if isinstance(compiled, str | bytes) else repr(compiled)
        if S.normalized(text) != S.normalized(hand):
            raise RuntimeError(f"bench SQL differs from pgkeel's:\n{compiled!r}\n{hand!r}")


def check_same_params(env: Env) -> None:
    """For the sampled rows: every statement pgkeel sends for get, page 1, keyset, the user
    INSERT and the audit INSERT has the raw contenders' text and the same parameters (JSON
    compared as values: raw psycopg sends Jsonb objects, pgkeel JSON text)."""
    from pgkeel.audit.events import prepare
    from pgkeel.audit.record import INSERT_EVENT
    from pgkeel.db import current_context
    from pgkeel.repo import writes
    from pgkeel.repo.listing import build_list

    compiler, codec = env.users.compiler, env.users.codec
    org, uid = env.row(0)
    where = Where()
    compiler.scope(where, org)
    compiler.key(where, (uid,))
    page1 = build_list(compiler, codec, _params(("isActive", "true"), ("page", "1"),
                                                ("pageSize", str(PAGE_SIZE)),
                                                ("count", "none")), org, dict_row)
    korg, cursor, created, kid = env.keyset[0]
    keyset = build_list(compiler, codec, _params(("isActive", "true"), ("limit", str(PAGE_SIZE)),
                                                 ("cursor", cursor)), korg, dict_row)
    new = _new_user(env, "check", 0)
    insert, insert_params = writes.insert(compiler, {**new, "organization_id": org}, 1)
    with use_context(org_id=org, actor_id=env.actors[org]):
        event = prepare(action="users.create", entity_type="User", entity_id=uid, new=new,
                        context=current_context())
    pairs: list[tuple[object, str, tuple[Any, ...], tuple[Any, ...]]] = [
        (compiler.select(where), S.GET_USER, tuple(where.params), (org, uid)),
        (page1.statements[0][0], S.LIST_OFFSET, tuple(cast("list[Any]", page1.statements[0][1])),
         (org, True, PAGE_SIZE, 0)),
        (keyset.statements[0][0], S.LIST_KEYSET, tuple(cast("list[Any]", keyset.statements[0][1])),
         (korg, True, created, kid, PAGE_SIZE + 1)),
        (insert, S.USER_INSERT, tuple(insert_params),
         (new["display_name"], new["email"], True, org, "active")),
        (INSERT_EVENT, S.AUDIT_INSERT, event.insert_params(),
         (str(org), str(env.actors[org]), "users.create", "User", str(uid), None, Jsonb(new),
          NEW_FIELDS, None, None)),
    ]
    for compiled, hand, theirs, ours in pairs:
        text = compiled if isinstance(compiled, str | bytes) else repr(compiled)
        if S.normalized(text) != S.normalized(hand):
            raise RuntimeError(f"bench SQL differs from pgkeel's:\n{compiled!r}\n{hand!r}")
        if _values(theirs) != _values(ours):
            raise RuntimeError(f"bench parameters differ from pgkeel's for {hand[:40]!r}:\n"
                               f"{theirs!r}\n{ours!r}")


def _values(params: tuple[Any, ...]) -> list[Any]:
    """Parameters as values: Jsonb and JSON text decoded, sequences as lists, ids as text."""
    return [_value(p) for p in params]


def _value(value: Any) -> Any:
    if isinstance(value, Jsonb):
        return value.obj
    if isinstance(value, str) and value[:1] in ("{", "["):
        return orjson.loads(value)
    if isinstance(value, tuple | list):
        return sorted(map(str, value))
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# -- get by id ---------------------------------------------------------------------------------

def get_by_id(env: Env) -> Scenario:
    async def raw(i: int) -> object:
        org, uid = env.row(i)
        async with _borrow(env.raw) as conn:
            cur = await conn.execute(S.GET_USER, (org, uid))
            return await cur.fetchone()

    get_sql = S.dollar(S.GET_USER)

    async def apg(i: int) -> object:
        org, uid = env.row(i)
        return await env.apg.fetchrow(get_sql, org, uid)

    async def orm(i: int) -> object:
        org, uid = env.row(i)
        async with env.sessions() as session:
            return await session.scalar(
                select(User).where(User.organization_id == org, User.deleted_at.is_(None),
                                   User.id == uid))

    async def core(i: int) -> object:
        org, uid = env.row(i)
        async with env.core.connect() as conn:
            result = await conn.execute(
                select(USER_T).where(USER_T.c.organization_id == org,
                                     USER_T.c.deleted_at.is_(None), USER_T.c.id == uid))
            return result.mappings().one_or_none()

    async def keel(i: int) -> object:
        org, uid = env.row(i)
        with use_context(org_id=org):
            return await env.users.get(uid)

    return Scenario("get_by_id", "One user by primary key, tenant-scoped, not soft-deleted.",
                    [*_four(raw, apg, orm, keel), Contender("sqlalchemy_core", core)])


def get_by_id_rls(env: Env) -> Scenario:
    async def raw(i: int) -> object:
        org, uid = env.row(i)
        async with _borrow(env.app_raw) as conn:
            async with conn.pipeline():
                await conn.execute(SET_ORG, (str(org),))
                cur = await conn.execute(S.GET_USER, (org, uid))
            return await cur.fetchone()

    async def keel(i: int) -> object:
        org, uid = env.row(i)
        with use_context(org_id=org):
            return await env.app_users.get(uid)

    return Scenario("get_by_id_rls", "get_by_id as a role subject to row-level security.",
                    [Contender("raw_psycopg", raw), Contender("pgkeel", keel)])


# -- lists -------------------------------------------------------------------------------------

def _orm_where(org: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return (User.organization_id == org, User.deleted_at.is_(None), User.is_active == true())


USER_T = User.__table__
SET_ORG = "SELECT set_config('pgkeel.org_id', %s, true)"


def _core_list(org: uuid.UUID) -> Select[Any]:
    return (select(USER_T).where(USER_T.c.organization_id == org,
                                 USER_T.c.deleted_at.is_(None), USER_T.c.is_active == true())
            .order_by(USER_T.c.created_at.desc(), USER_T.c.id.desc()))


def _orm_list(org: uuid.UUID) -> Select[User]:
    return (select(User).where(*_orm_where(org))
            .order_by(User.created_at.desc(), User.id.desc()))


def list_offset(env: Env, name: str, page: int, description: str) -> Scenario:
    offset = (page - 1) * PAGE_SIZE
    list_sql = S.dollar(S.LIST_OFFSET)
    query = _params(("isActive", "true"), ("page", str(page)), ("pageSize", str(PAGE_SIZE)),
                    ("count", "none"))

    async def raw(i: int) -> object:
        async with _borrow(env.raw) as conn:
            cur = await conn.execute(S.LIST_OFFSET, (env.org(i), True, PAGE_SIZE, offset))
            return await cur.fetchall()

    async def apg(i: int) -> object:
        return await env.apg.fetch(list_sql, env.org(i), True, PAGE_SIZE, offset)

    async def orm(i: int) -> object:
        async with env.sessions() as session:
            result = await session.scalars(_orm_list(env.org(i)).limit(PAGE_SIZE).offset(offset))
            return result.all()

    async def core(i: int) -> object:
        async with env.core.connect() as conn:
            result = await conn.execute(_core_list(env.org(i)).limit(PAGE_SIZE).offset(offset))
            return result.mappings().all()

    async def keel(i: int) -> object:
        with use_context(org_id=env.org(i)):
            return await env.users.list(query)

    return Scenario(name, description, [*_four(raw, apg, orm, keel),
                                        Contender("sqlalchemy_core", core)])


def list_offset_rls(env: Env) -> Scenario:
    query = _params(("isActive", "true"), ("page", "1"), ("pageSize", str(PAGE_SIZE)),
                    ("count", "none"))

    async def raw(i: int) -> object:
        org = env.org(i)
        async with _borrow(env.app_raw) as conn:
            async with conn.pipeline():
                await conn.execute(SET_ORG, (str(org),))
                cur = await conn.execute(S.LIST_OFFSET, (org, True, PAGE_SIZE, 0))
            return await cur.fetchall()

    async def keel(i: int) -> object:
        with use_context(org_id=env.org(i)):
            return await env.app_users.list(query)

    return Scenario("list_offset_page1_rls", "list_offset_page1 as a role subject to "
                    "row-level security.", [Contender("raw_psycopg", raw),
                                            Contender("pgkeel", keel)])


def list_keyset(env: Env) -> list[Scenario]:
    keyset_sql = S.dollar(S.LIST_KEYSET)
    queries = [_params(("isActive", "true"), ("limit", str(PAGE_SIZE)), ("cursor", cursor))
               for _, cursor, _, _ in env.keyset]

    def at(i: int) -> tuple[uuid.UUID, str, dt.datetime, uuid.UUID]:
        return env.keyset[i % len(env.keyset)]

    async def raw(i: int) -> object:
        org, _, created, uid = at(i)
        async with _borrow(env.raw) as conn:
            cur = await conn.execute(S.LIST_KEYSET, (org, True, created, uid, PAGE_SIZE + 1))
            return await cur.fetchall()

    async def apg(i: int) -> object:
        org, _, created, uid = at(i)
        return await env.apg.fetch(keyset_sql, org, True, created, uid, PAGE_SIZE + 1)

    async def orm(i: int) -> object:
        org, _, created, uid = at(i)
        async with env.sessions() as session:
            result = await session.scalars(
                _orm_list(org).where(tuple_(User.created_at, User.id) < tuple_(created, uid))
                .limit(PAGE_SIZE + 1))
            return result.all()

    async def core(i: int) -> object:
        org, _, created, uid = at(i)
        async with env.core.connect() as conn:
            result = await conn.execute(
                _core_list(org).where(tuple_(USER_T.c.created_at, USER_T.c.id)
                                      < tuple_(created, uid)).limit(PAGE_SIZE + 1))
            return result.mappings().all()

    async def keel(i: int) -> object:
        org = at(i)[0]
        with use_context(org_id=org):
            return await env.users.list(queries[i % len(queries)])

    async def raw_rls(i: int) -> object:
        org, _, created, uid = at(i)
        async with _borrow(env.app_raw) as conn:
            async with conn.pipeline():
                await conn.execute(SET_ORG, (str(org),))
                cur = await conn.execute(S.LIST_KEYSET, (org, True, created, uid,
                                                         PAGE_SIZE + 1))
            return await cur.fetchall()

    async def keel_rls(i: int) -> object:
        org = at(i)[0]
        with use_context(org_id=org):
            return await env.app_users.list(queries[i % len(queries)])

    return [Scenario("list_keyset", "20 active users after a cursor in the middle of the "
                     "organization's list (sort -createdAt, id).",
                     [*_four(raw, apg, orm, keel), Contender("sqlalchemy_core", core)]),
            Scenario("list_keyset_rls", "list_keyset as a role subject to row-level "
                     "security.", [Contender("raw_psycopg", raw_rls),
                                   Contender("pgkeel", keel_rls)])]


def _planned(plan: Any) -> int:
    data = orjson.loads(plan) if isinstance(plan, str | bytes) else plan
    return int(data[0]["Plan"]["Plan Rows"])


def _total(mode: CountMode, counted: int | None, plan: Any, threshold: int) -> int:
    """The total as pgkeel's count modes define it, from a count and/or a plan."""
    if mode is CountMode.EXACT:
        assert counted is not None
        return counted
    if mode is CountMode.PLANNED:
        return _planned(plan)
    assert counted is not None
    return counted if counted <= threshold else max(counted, _planned(plan))


def list_count(env: Env, mode: CountMode) -> Scenario:
    threshold = USERS.count_threshold
    query = _params(("isActive", "true"), ("page", "1"), ("pageSize", str(PAGE_SIZE)),
                    ("count", mode.value))
    list_sql = S.dollar(S.LIST_OFFSET)
    exact_sql, planned_sql = S.dollar(S.COUNT_EXACT), S.dollar(S.COUNT_PLANNED)
    limited_sql = S.dollar(S.COUNT_LIMITED)

    def plans(counted: int | None) -> bool:
        """Whether the planner's estimate is needed: always for `planned`, and for `estimated`
        only when the limited count came back over the threshold (as pgkeel asks it)."""
        return mode is CountMode.PLANNED or (mode is CountMode.ESTIMATED
                                             and counted is not None and counted > threshold)

    async def raw(i: int) -> object:
        org = env.org(i)
        async with _borrow(env.raw) as conn:
            async with conn.pipeline():   # the limit: one round trip, as pgkeel sends it
                page = await conn.execute(S.LIST_OFFSET, (org, True, PAGE_SIZE, 0))
                count = plan = None
                if mode is CountMode.EXACT:
                    count = await conn.execute(S.COUNT_EXACT, (org, True))
                elif mode is CountMode.ESTIMATED:
                    count = await conn.execute(S.COUNT_LIMITED, (org, True, threshold + 1))
                elif mode is CountMode.PLANNED:
                    plan = await conn.execute(S.COUNT_PLANNED, (org, True))
            rows = await page.fetchall()
            counted = None
            if count is not None:
                row = await count.fetchone()
                assert row is not None
                counted = int(row["count"])
            if plan is None and plans(counted):   # a second round trip, as pgkeel's
                plan = await conn.execute(S.COUNT_PLANNED, (org, True))
            planned = None
            if plan is not None:
                row = await plan.fetchone()
                assert row is not None
                planned = row["QUERY PLAN"]
            return rows, _total(mode, counted, planned, threshold)

    async def apg(i: int) -> object:
        org = env.org(i)
        async with env.apg.acquire() as conn:
            rows = await conn.fetch(list_sql, org, True, PAGE_SIZE, 0)
            counted = plan = None
            if mode is CountMode.EXACT:
                counted = int(await conn.fetchval(exact_sql, org, True))
            elif mode is CountMode.ESTIMATED:
                counted = int(await conn.fetchval(limited_sql, org, True, threshold + 1))
            if plans(counted):
                plan = await conn.fetchval(planned_sql, org, True)
            return rows, _total(mode, counted, plan, threshold)

    async def orm(i: int) -> object:
        org = env.org(i)
        where = _orm_where(org)
        async with env.sessions() as session:
            rows = (await session.scalars(_orm_list(org).limit(PAGE_SIZE))).all()
            counted = plan = None
            if mode is CountMode.EXACT:
                counted = await session.scalar(select(func.count()).select_from(User)
                                               .where(*where))
            elif mode is CountMode.ESTIMATED:
                limited = select(literal_column("1")).select_from(User).where(*where) \
                    .limit(threshold + 1).subquery()
                counted = await session.scalar(select(func.count()).select_from(limited))
            if plans(None if counted is None else int(counted)):
                # SQLAlchemy has no EXPLAIN construct: its users drop to text() for it.
                plan = await session.scalar(EXPLAIN_TEXT, {"org": org, "active": True})
            return rows, _total(mode, None if counted is None else int(counted), plan,
                                threshold)

    async def keel(i: int) -> object:
        with use_context(org_id=env.org(i)):
            return await env.users.list(query)

    return Scenario(f"list_count_{mode.value}",
                    f"Page 1 of 20 active users plus the total, count mode {mode.value}.",
                    _four(raw, apg, orm, keel))


EXPLAIN_TEXT = text("EXPLAIN (FORMAT JSON) SELECT 1 FROM identity.users AS t "
                    "WHERE t.organization_id = :org AND t.deleted_at IS NULL "
                    "AND t.is_active = :active")


# -- cache -------------------------------------------------------------------------------------

async def prefill_cache(env: Env, count: int) -> None:
    """Store the first `count` sampled users in both caches (raw key and pgkeel key)."""
    for i in range(min(count, len(env.ids))):
        org, uid = env.row(i)
        with use_context(org_id=org):
            user = await env.users.get(uid)
            await env.cache.set(env.cache.key("user", uid), user, ttl=CACHE_TTL_S)
            await env.l1_cache.set(env.l1_cache.key("user", uid), user, ttl=CACHE_TTL_S)
        await env.redis.set(f"{env.raw_prefix}user:{uid}", orjson.dumps(user),
                            ex=CACHE_TTL_S)
    # The two-tier cache's L1 fills on a read (once its invalidation channel is subscribed),
    # not on set: read every key through it, twice, so the measured reads are L1 hits.
    for _ in range(2):
        for i in range(min(count, len(env.ids))):
            org, uid = env.row(i)
            with use_context(org_id=org):
                await env.l1_cache.get_or_set(env.l1_cache.key("user", uid),
                                              _loader(env, uid), ttl=CACHE_TTL_S)


def _loader(env: Env, uid: uuid.UUID) -> Callable[[], Awaitable[dict[str, Any]]]:
    return lambda: env.users.get(uid)


def cache_hit(env: Env, keys: int) -> Scenario:
    async def raw(i: int) -> object:
        _, uid = env.row(i % keys)
        data = await env.redis.get(f"{env.raw_prefix}user:{uid}")
        assert data is not None
        return orjson.loads(data)

    async def keel(i: int) -> object:
        org, uid = env.row(i % keys)
        with use_context(org_id=org):
            return await env.cache.get_or_set(env.cache.key("user", uid),
                                              lambda: env.users.get(uid), ttl=CACHE_TTL_S)

    return Scenario("cache_hit", "A cached user: raw Redis GET + orjson decode vs "
                    "pgkeel Cache.get_or_set (hit).",
                    [Contender("raw_psycopg", raw), Contender("pgkeel", keel)])


def cache_hit_l1(env: Env, keys: int) -> Scenario:
    async def raw(i: int) -> object:
        _, uid = env.row(i % keys)
        data = await env.redis.get(f"{env.raw_prefix}user:{uid}")
        assert data is not None
        return orjson.loads(data)

    async def keel(i: int) -> object:
        org, uid = env.row(i % keys)
        with use_context(org_id=org):
            return await env.l1_cache.get_or_set(env.l1_cache.key("user", uid),
                                                 lambda: env.users.get(uid), ttl=CACHE_TTL_S)

    return Scenario("cache_hit_l1", "A cached user held in the two-tier cache's in-process "
                    "L1: raw Redis GET + orjson decode vs pgkeel Cache.get_or_set (L1 hit).",
                    [Contender("raw_psycopg", raw), Contender("pgkeel", keel)])


def cache_miss(env: Env) -> Scenario:
    async def raw(i: int) -> object:
        org, uid = env.row(i)
        key = f"{env.raw_prefix}miss:{i}:{uid}"
        data = await env.redis.get(key)
        if data is not None:
            return orjson.loads(data)
        async with _borrow(env.raw) as conn:
            cur = await conn.execute(S.GET_USER, (org, uid))
            user = await cur.fetchone()
        await env.redis.set(key, orjson.dumps(user), ex=CACHE_TTL_S)
        return user

    async def keel(i: int) -> object:
        org, uid = env.row(i)
        with use_context(org_id=org):
            return await env.cache.get_or_set(
                env.cache.key("user", uid, f"miss-{env.nonce}-{i}"),
                lambda: env.users.get(uid), ttl=CACHE_TTL_S)

    return Scenario("cache_miss", "A user not in the cache: look up, load from PostgreSQL, "
                    "store (raw GET + SELECT + SET vs pgkeel get_or_set with its lease).",
                    [Contender("raw_psycopg", raw), Contender("pgkeel", keel)])


# -- writes ------------------------------------------------------------------------------------

def _email(env: Env, who: str, i: int) -> str:
    return f"bench-{who}-{env.nonce}-{i}@bench.example"


def _new_user(env: Env, who: str, i: int) -> dict[str, Any]:
    return {"email": _email(env, who, i), "display_name": "Bench User", "status": "active",
            "is_active": True}


def create_with_audit(env: Env) -> Scenario:
    insert_sql, audit_sql = S.dollar(S.USER_INSERT), S.dollar(S.AUDIT_INSERT)

    async def raw(i: int) -> object:
        org = env.org(i)
        new = _new_user(env, "raw", i)
        async with _borrow(env.raw) as conn, conn.transaction():
            cur = await conn.execute(S.USER_INSERT, (new["display_name"], new["email"],
                                                     True, org, "active"))
            user = await cur.fetchone()
            assert user is not None
            await conn.execute(S.AUDIT_INSERT, (
                str(org), str(env.actors[org]), "users.create", "User", str(user["id"]), None,
                Jsonb(new), NEW_FIELDS, None, None))
            return user

    async def apg(i: int) -> object:
        org = env.org(i)
        new = _new_user(env, "apg", i)
        async with env.apg.acquire() as conn, conn.transaction():
            user = await conn.fetchrow(insert_sql, new["display_name"], new["email"], True,
                                       org, "active")
            assert user is not None
            await conn.execute(audit_sql, str(org), str(env.actors[org]), "users.create",
                               "User", str(user["id"]), None, orjson.dumps(new).decode(),
                               NEW_FIELDS, None, None)
            return user

    async def orm(i: int) -> object:
        org = env.org(i)
        new = _new_user(env, "orm", i)
        async with env.sessions.begin() as session:
            user = User(organization_id=org, **new)
            session.add(user)
            await session.flush()
            session.add(AuditLog(organization_id=str(org), actor_id=str(env.actors[org]),
                                 action="users.create", entity_type="User",
                                 entity_id=str(user.id), new_values=new,
                                 changed_fields=NEW_FIELDS))
        return user

    async def keel(i: int) -> object:
        org = env.org(i)
        new = _new_user(env, "keel", i)
        with use_context(org_id=org, actor_id=env.actors[org]):
            async with env.db.transaction() as tx:
                user = await env.users.create(new, tx=tx)
                await audit.record(tx, action="users.create", entity_type="User",
                                   entity_id=user["id"], new=new)
                return user

    return Scenario("create_with_audit", "Insert a user and its audit row in one transaction "
                    "(the audit hash chain runs at COMMIT for every contender).",
                    _four(raw, apg, orm, keel))


def audit_append(env: Env) -> Scenario:
    audit_sql = S.dollar(S.AUDIT_INSERT)

    def event(i: int) -> tuple[uuid.UUID, uuid.UUID, dict[str, Any]]:
        org, uid = env.row(i)
        return org, uid, {"ip": "203.0.113.7", "i": i}

    async def raw(i: int) -> object:
        org, uid, meta = event(i)
        async with _borrow(env.raw) as conn:
            return await conn.execute(S.AUDIT_INSERT, (
                str(org), str(env.actors[org]), "users.login", "User", str(uid), None, None,
                None, Jsonb(meta), None))

    async def apg(i: int) -> object:
        org, uid, meta = event(i)
        return await env.apg.execute(audit_sql, str(org), str(env.actors[org]), "users.login",
                                     "User", str(uid), None, None, None,
                                     orjson.dumps(meta).decode(), None)

    async def orm(i: int) -> object:
        org, uid, meta = event(i)
        async with env.sessions.begin() as session:
            session.add(AuditLog(organization_id=str(org), actor_id=str(env.actors[org]),
                                 action="users.login", entity_type="User", entity_id=str(uid),
                                 metadata_=meta))
        return None

    async def keel(i: int) -> object:
        org, uid, meta = event(i)
        with use_context(org_id=org, actor_id=env.actors[org]):
            await env.appender.append(action="users.login", entity_type="User",
                                      entity_id=uid, metadata=meta)
        return None

    async def drain() -> None:
        await env.appender.flush()   # untimed: the writes happen, just not in the caller

    contenders = _four(raw, apg, orm, keel)
    contenders[3].after_block = drain
    return Scenario("audit_append", "Caller-side cost of recording one audit event: a "
                    "synchronous INSERT (raw, asyncpg, SQLAlchemy) vs pgkeel's non-blocking "
                    "AuditAppender.append (written later in batches by COPY).", contenders)


def bulk_insert(env: Env) -> Scenario:
    count = env.profile.bulk_rows
    org = env.orgs[0]
    rows = [{"email": f"bulk-{j}@bench.example", "display_name": f"Bulk User {j}",
             "status": "active", "is_active": True} for j in range(count)]
    columns = ["organization_id", "email", "display_name", "status", "is_active"]
    records = [(org, r["email"], r["display_name"], r["status"], r["is_active"]) for r in rows]
    orm_rows = [{"organization_id": org, **r} for r in rows]

    async def truncate(i: int) -> None:
        async with _borrow(env.raw) as conn:
            await conn.execute("TRUNCATE bench.bulk_users")

    async def raw(i: int) -> object:
        async with _borrow(env.raw) as conn, conn.transaction():
            cursor = conn.cursor()
            async with cursor.copy("COPY bench.bulk_users (organization_id, email, display_name,"
                                   " status, is_active) FROM STDIN") as copy:
                for record in records:
                    await copy.write_row(record)
        return count

    async def apg(i: int) -> object:
        return await env.apg.copy_records_to_table("bulk_users", schema_name="bench",
                                                   records=records, columns=columns)

    async def orm(i: int) -> object:
        async with env.sessions.begin() as session:
            await session.execute(insert(BulkUser), orm_rows)
        return count

    async def keel(i: int) -> object:
        with use_context(org_id=org):
            return await env.bulk.create_many(rows, copy=True)

    contenders = _four(raw, apg, orm, keel)
    for contender in contenders:
        contender.before = truncate
    return Scenario("bulk_insert", f"Insert {count:,} users into an empty table: COPY (raw, "
                    "asyncpg copy_records_to_table, pgkeel create_many(copy=True)) vs "
                    "SQLAlchemy 2's bulk insert(User) with a list of dicts.", contenders,
                    max_ops=3, min_ops=1)


def _four(raw: Callable[[int], Awaitable[object]], apg: Callable[[int], Awaitable[object]],
          orm: Callable[[int], Awaitable[object]],
          keel: Callable[[int], Awaitable[object]]) -> list[Contender]:
    return [Contender("raw_psycopg", raw), Contender("asyncpg", apg),
            Contender("sqlalchemy", orm), Contender("pgkeel", keel)]


def build_scenarios(env: Env, *, cache_keys: int) -> list[Scenario]:
    return [
        get_by_id(env),
        get_by_id_rls(env),
        list_offset(env, "list_offset_page1", 1,
                    "Page 1 of 20 active users, sort -createdAt (filter + sort, no count)."),
        list_offset_rls(env),
        list_offset(env, "list_offset_deep", env.deep_page,
                    f"Page {env.deep_page} of 20 active users (a deep OFFSET), no count."),
        *list_keyset(env),
        list_count(env, CountMode.EXACT),
        list_count(env, CountMode.PLANNED),
        list_count(env, CountMode.ESTIMATED),
        cache_hit(env, cache_keys),
        cache_hit_l1(env, cache_keys),
        cache_miss(env),
        create_with_audit(env),
        audit_append(env),
        bulk_insert(env),
    ]


async def cleanup(env: Env) -> None:
    """Remove what the write scenarios added (audit rows are append-only and stay)."""
    await env.db.execute("DELETE FROM identity.users WHERE email LIKE %s",
                         (f"bench-%-{env.nonce}-%",))
    async with _borrow(env.raw) as conn:
        await conn.execute("TRUNCATE bench.bulk_users")
    for prefix in (env.cache.options.prefix, env.l1_cache.options.prefix, env.raw_prefix):
        keys = [k async for k in env.redis.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await env.redis.delete(*keys[start:start + 1000])
