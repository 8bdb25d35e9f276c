"""Suite-wide fixtures. The pgkeel pytest plugin (auto-loaded) provides the servers, a database
of this run's own (`pgkeel_database_url`, `pgkeel_db`), a fresh schema per test
(`pgkeel_schema`) and a Redis key prefix (`pgkeel_redis_prefix`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pgkeel.embedded import EmbeddedServers
from pgkeel.security.roles import RoleNames
from pgkeel.testing import create_database, drop_database


@pytest.fixture(scope="session")
def admin_url(pgkeel_servers: EmbeddedServers) -> str:
    """The server's own database URL (for CREATE/DROP DATABASE and pg_stat_activity)."""
    url = pgkeel_servers.settings.database_url
    assert url is not None
    return url


@pytest.fixture
def sync_conn(pgkeel_database_url: str):
    """A plain autocommit psycopg connection on the run's database, for setup and checks."""
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        yield conn


class LiveServer:
    """`python -m pgkeel_apps` (or `uvicorn <app>`, an ASGI app of the test tree) in a
    subprocess on a free port (a real uvicorn). Its output goes to a file, so a chatty server
    can never block on a full pipe."""

    def __init__(self, env: dict[str, str], *, app: str | None = None,
                 ready_path: str = "/health") -> None:
        import os
        import subprocess
        import sys
        import tempfile
        from pathlib import Path

        from pgkeel.embedded._process import free_port

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.log = tempfile.TemporaryFile("w+")
        full_env = {**os.environ, **env, "PORT": str(self.port)}
        command = [sys.executable, "-m", "pgkeel_apps"]
        if app is not None:
            root = str(Path(__file__).resolve().parents[1])
            full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root,
                                                                   os.environ.get("PYTHONPATH")]))
            command = [sys.executable, "-m", "uvicorn", app, "--port", str(self.port),
                       "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=full_env, stdout=self.log,
                                        stderr=subprocess.STDOUT, text=True)

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        import time

        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.base_url}{self.ready_path}",
                             timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not come up: {self.output()}")

    def stop(self, *, kill: bool = False) -> str:
        """SIGTERM (a graceful shutdown, as in production), or SIGKILL (a crash) with `kill`;
        returns the server's output."""
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"server ignored SIGTERM: {self.output()}") from None
        output = self.output()
        self.log.close()
        return output

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


@pytest.fixture
def scratch_database(admin_url: str) -> Iterator[str]:
    """An empty database of this test's own (its URL), dropped afterwards."""
    url = create_database(admin_url, prefix="pgkeel_scratch")
    try:
        yield url
    finally:
        drop_database(admin_url, url)


@pytest.fixture
def rls_role(pgkeel_database_url: str, pgkeel_schema: str) -> Iterator[str]:
    """An ordinary login role (no superuser, NOBYPASSRLS: row-level security applies to it)
    with USAGE on this test's schema; dropped, with the schema, afterwards."""
    name = f"pgkt_rls_{secrets.token_hex(4)}"
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOBYPASSRLS").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(pgkeel_schema), sql.Identifier(name)))
    yield name
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(pgkeel_schema)))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def role_names(pgkeel_database_url: str) -> Iterator[RoleNames]:
    """This session's own migrator / app / readonly roles (roles are cluster-wide: sessions
    must not share them), dropped with everything they own at the end."""
    names = RoleNames.for_service(f"pgkt_{secrets.token_hex(4)}")
    yield names
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        for role in names.all():
            if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def live_server(pgkeel_redis_prefix: str, role_names: RoleNames):
    """Start the reference service with extra environment: `live_server({"VAR": ...})`
    (its cache uses this session's key prefix unless the test sets CACHE_PREFIX; it serves
    as this session's app role; a small demo data set unless the test sets DEMO_*)."""
    servers: list[LiveServer] = []

    def start(env: dict[str, str]) -> LiveServer:
        server = LiveServer({"CACHE_PREFIX": pgkeel_redis_prefix,
                             "DEMO_ROLE_SERVICE": role_names.app.removesuffix("_app"),
                             "DEMO_ORGS": "3", "DEMO_USERS": "60", "DEMO_CARS": "200",
                             "DEMO_LEADS": "50", "DEMO_CAR_VIEWS": "2000", **env})
        servers.append(server)
        server.wait_ready(120)   # a loaded machine starts it slowly
        return server

    yield start
    for server in servers:
        server.stop()
