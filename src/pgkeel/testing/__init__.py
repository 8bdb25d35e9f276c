"""pytest fixtures for testing against real PostgreSQL and Redis (a pytest plugin).

Installed with pgkeel and loaded automatically (entry point `pytest11`). Each test session gets
its own database (created, then dropped) and its own Redis key prefix, against DATABASE_URL /
REDIS_URL when set, else the embedded servers. See docs/testing.md.

Session fixtures:  pgkeel_servers, pgkeel_database_url, pgkeel_redis_url, pgkeel_redis_prefix,
                   pgkeel_settings
Session fixtures:  pgkeel_pgbouncer (PgBouncer in transaction mode in front of the server),
                   pgkeel_streaming_replica (a `pg_basebackup` hot standby of the test server
                   whose replay can be paused: `pgkeel.testing.replica.StreamingReplica`)
Module fixture:    pgkeel_redis_cluster (3 primaries + 3 replicas: `ValkeyCluster`)
Fault injection:  TcpProxy (cut connections, or a COMMIT, between a service and its server),
                   ValkeyProcess (a Valkey/Redis server of the test's own, to kill and restart)
Function fixtures: pgkeel_db (an open Database), pgkeel_redis (redis.asyncio client),
                   pgkeel_schema (a fresh schema, dropped afterwards),
                   pgkeel_app (your app, running: `pgkeel_app = app_fixture(create_app, ...)`
                   in a conftest.py), pgkeel_client (an httpx.AsyncClient on it)
"""

from pgkeel.testing.app import app_fixture, apply_migrations
from pgkeel.testing.cluster import ValkeyCluster
from pgkeel.testing.databases import create_database, database_url, drop_database
from pgkeel.testing.pgbouncer import PgBouncer
from pgkeel.testing.proxy import TcpProxy
from pgkeel.testing.replica import StreamingReplica
from pgkeel.testing.valkey import ValkeyProcess

__all__ = ["PgBouncer", "StreamingReplica", "TcpProxy", "ValkeyCluster", "ValkeyProcess",
           "app_fixture", "apply_migrations", "create_database", "database_url",
           "drop_database"]
