"""The pytest plugin behind `pgkeel.testing` (registered as the `pgkeel` pytest11 plugin)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pgkeel.config import AppEnv, Settings, load_settings
from pgkeel.embedded import EmbeddedServers
from pgkeel.testing.cluster import ValkeyCluster, find_cluster_cli
from pgkeel.testing.databases import create_database, drop_database, drop_stale_databases
from pgkeel.testing.pgbouncer import PgBouncer, find_pgbouncer
from pgkeel.testing.replica import (
    StreamingReplica,
    find_bin_dir,
    replication_refused,
    server_major,
)
from pgkeel.testing.valkey import find_valkey_server


@pytest.fixture(scope="session")
def pgkeel_servers() -> Iterator[EmbeddedServers]:
    """Settings with both URLs filled in: the configured servers, else embedded ones (which
    are stopped at the end of the session if this session started them)."""
    servers = EmbeddedServers.for_settings(load_settings(app_env=AppEnv.TEST))
    admin_url = servers.settings.database_url
    if admin_url is not None:   # what killed runs left behind (no session, over a day old)
        drop_stale_databases(admin_url)
    try:
        yield servers
    finally:
        servers.stop_started()


@pytest.fixture(scope="session")
def pgkeel_database_url(pgkeel_servers: EmbeddedServers) -> Iterator[str]:
    """A database of this session's own, dropped at the end."""
    admin_url = pgkeel_servers.settings.database_url
    assert admin_url is not None
    url = create_database(admin_url)
    try:
        yield url
    finally:
        drop_database(admin_url, url)


@pytest.fixture(scope="session")
def pgkeel_redis_url(pgkeel_servers: EmbeddedServers) -> str:
    url = pgkeel_servers.settings.redis_url
    assert url is not None
    return url


@pytest.fixture(scope="session")
def pgkeel_redis_prefix(pgkeel_redis_url: str) -> Iterator[str]:
    """A key prefix of this session's own; its keys are deleted at the end."""
    prefix = f"pgkeel-test:{secrets.token_hex(4)}:"
    yield prefix
    if pgkeel_redis_url.startswith("memory://"):
        return
    import redis

    client = redis.Redis.from_url(pgkeel_redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
    finally:
        client.close()


@pytest.fixture(scope="session")
def pgkeel_settings(pgkeel_servers: EmbeddedServers, pgkeel_database_url: str,
                    pgkeel_redis_prefix: str) -> Settings:
    """Settings pointing at this session's database, with APP_ENV=test and this session's
    Redis key prefix for the cache (so runs sharing a Redis never see each other's keys)."""
    return pgkeel_servers.settings.model_copy(
        update={"database_url": pgkeel_database_url, "app_env": AppEnv.TEST,
                "cache_prefix": pgkeel_redis_prefix})


@pytest.fixture
def pgkeel_schema(pgkeel_database_url: str) -> Iterator[str]:
    """A fresh, empty schema for one test, dropped (CASCADE) afterwards."""
    name = f"t_{secrets.token_hex(4)}"
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))


@pytest.fixture(scope="session")
def pgkeel_streaming_replica(pgkeel_servers: EmbeddedServers, pgkeel_database_url: str
                             ) -> Iterator[StreamingReplica]:
    """A hot standby of the test server itself (one per session): `pg_basebackup` of the
    server the session uses into a temporary folder, started on another port with that
    server's own binaries; `primary_url` is the session's database, `standby_url` the same
    database on the standby. See `pgkeel.testing.replica`.

    Fallback: a server that refuses replication connections from 127.0.0.1 (its pg_hba.conf
    has no `replication` line, as on a shared PostgreSQL service configured for clients only)
    is not reconfigured by a test run; the fixture then builds a private primary and its
    standby with the same binaries, and says why in `fallback_reason` (tests that need the
    test server's own standby skip with it). Skipped when no server binaries of the server's
    major version are installed (set PGKEEL_PG_BIN)."""
    admin_url = pgkeel_servers.settings.database_url
    assert admin_url is not None
    major = server_major(admin_url)
    bin_dir = find_bin_dir(major)
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL {major} server binaries (initdb, pg_ctl, pg_basebackup, "
                    "postgres): set PGKEEL_PG_BIN")
    refused = replication_refused(admin_url)
    # Not under tmp_path_factory: a pytest process starting meanwhile (any, on this machine)
    # resets /tmp/pytest-of-<user> to 0700, and a standby running as another user would
    # lose its own files.
    home = Path(tempfile.mkdtemp(prefix="pgkeel-replica-"))
    home.chmod(0o755)
    try:
        pair = (StreamingReplica(home, bin_dir) if refused else
                StreamingReplica(home, bin_dir, primary_url=pgkeel_database_url))
        if refused:
            pair.fallback_reason = (f"the test server refuses replication connections "
                                    f"({refused}); using a private primary instead")
        with pair:
            yield pair
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pgkeel_pgbouncer(pgkeel_servers: EmbeddedServers) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of the session's PostgreSQL (skipped when
    pgbouncer is not installed): `pgkeel_pgbouncer.url(url)` is `url` through it. See
    `pgkeel.testing.pgbouncer`."""
    if find_pgbouncer() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    url = pgkeel_servers.settings.database_url
    assert url is not None
    info = conninfo_to_dict(url)
    home = Path(tempfile.mkdtemp(prefix="pgkeel-pgbouncer-"))
    home.chmod(0o755)
    try:
        with PgBouncer(home, str(info.get("host", "127.0.0.1")),
                       int(info.get("port") or 5432)) as bouncer:
            yield bouncer
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def pgkeel_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """A local Redis Cluster, 3 primaries with a replica each (one per test module; skipped
    when no valkey-server / redis-server and cli are installed). See `pgkeel.testing.cluster`."""
    if find_valkey_server() is None or find_cluster_cli() is None:
        pytest.skip("no valkey-server/redis-server and valkey-cli/redis-cli")
    home = Path(tempfile.mkdtemp(prefix="pgkeel-cluster-"))
    try:
        with ValkeyCluster(home) as cluster:
            yield cluster
    finally:
        shutil.rmtree(home, ignore_errors=True)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover -- async fixtures need pytest-asyncio
    pass
else:
    from redis.asyncio import Redis

    from pgkeel.db import Database

    @pytest_asyncio.fixture
    async def pgkeel_db(pgkeel_settings: Settings) -> AsyncIterator[Database]:
        """An open `Database` on this session's database."""
        async with Database.from_settings(pgkeel_settings, min_size=1) as db:
            yield db

    @pytest_asyncio.fixture
    async def pgkeel_app() -> AsyncIterator[Any]:
        """Your app, running: define it in a conftest.py with `pgkeel.testing.app_fixture`."""
        pytest.fail("pgkeel_app is not defined: in conftest.py write "
                    "`pgkeel_app = app_fixture(create_app, migrations={...})` "
                    "(from pgkeel.testing import app_fixture).", pytrace=False)
        yield None  # pragma: no cover

    @pytest_asyncio.fixture
    async def pgkeel_client(pgkeel_app: Any) -> AsyncIterator[Any]:
        """An httpx.AsyncClient on `pgkeel_app` (in process, base URL http://test)."""
        import httpx

        transport = httpx.ASGITransport(app=pgkeel_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    @pytest_asyncio.fixture
    async def pgkeel_redis(pgkeel_redis_url: str) -> AsyncIterator[Redis]:
        """A redis.asyncio client on the session's Redis (use `pgkeel_redis_prefix`)."""
        client = Redis.from_url(pgkeel_redis_url)
        try:
            yield client
        finally:
            await client.aclose()
