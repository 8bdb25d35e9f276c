"""Suite-wide fixtures. The pgkeel pytest plugin (auto-loaded) provides the servers, a database
of this run's own (`pgkeel_database_url`, `pgkeel_db`), a fresh schema per test
(`pgkeel_schema`) and a Redis key prefix (`pgkeel_redis_prefix`)."""

from __future__ import annotations

import psycopg
import pytest

from pgkeel.embedded import EmbeddedServers


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

    def wait_ready(self, timeout_s: float = 60.0) -> None:
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

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=30)
        output = self.output()
        self.log.close()
        return output

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


@pytest.fixture
def live_server(pgkeel_redis_prefix: str):
    """Start the reference service with extra environment: `live_server({"VAR": ...})`
    (its cache uses this session's key prefix unless the test sets CACHE_PREFIX)."""
    servers: list[LiveServer] = []

    def start(env: dict[str, str]) -> LiveServer:
        server = LiveServer({"CACHE_PREFIX": pgkeel_redis_prefix, **env})
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
