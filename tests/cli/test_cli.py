"""The `pgkeel` command: --json output, one-line errors, non-zero exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pgkeel.embedded._process import free_port

pytestmark = pytest.mark.smoke


def pgkeel(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgkeel", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_db_ping_json(pgkeel_database_url):
    result = pgkeel("db", "ping", "--json", DATABASE_URL=pgkeel_database_url)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["server_version"] >= 150000
    assert data["pools"]["primary"]["pool_max"] >= 1


def test_db_ping_human(pgkeel_database_url):
    result = pgkeel("db", "ping", DATABASE_URL=pgkeel_database_url)
    assert result.returncode == 0
    assert result.stdout.startswith("ok: ")


def test_unreachable_database_is_one_line_naming_the_cause_and_exit_1():
    port = free_port()
    result = pgkeel("db", "ping", DATABASE_URL=f"postgresql://u:topsecret@127.0.0.1:{port}/x",
                    DB_CONNECT_TIMEOUT_S="1")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: Nothing accepts connections at 127.0.0.1:{port} "
                               f"(connection refused; postgresql://u:***@127.0.0.1:{port}/x).")
    assert "(hint: Check the host and port in DATABASE_URL" in lines[0]
    assert "topsecret" not in result.stderr + result.stdout


def test_a_missing_database_is_named_by_db_ping(pgkeel_database_url):
    from pgkeel.testing import database_url

    result = pgkeel("db", "ping", "--json",
                    DATABASE_URL=database_url(pgkeel_database_url, "newapp_tyr"))
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["details"]["cause"] == "database_missing"
    assert error["message"].startswith("The database 'newapp_tyr' does not exist at ")


def test_bad_setting_is_one_line_naming_the_variable():
    result = pgkeel("db", "ping", "--json", DB_POOL_MAX_SIZE="lots")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "config_error"
    assert "DB_POOL_MAX_SIZE" in error["message"]


def test_server_status_json(tmp_path):
    result = pgkeel("server", "status", "--json", PGKEEL_HOME=str(tmp_path))
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert {row["server"] for row in rows} == {"postgres", "valkey"}
    assert all(row["running"] is False for row in rows)


def test_a_table_piped_to_a_file_keeps_one_line_per_row(tmp_path):
    home = tmp_path / ("a-rather-long-directory-name-" * 3)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-m", "pgkeel", "server", "status"],
                            capture_output=True, text=True, timeout=120,
                            env={**env, "PGKEEL_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "postgres" in line]
    assert len(rows) == 1 and str(home.resolve() / "pg") in rows[0]
    assert len(rows[0]) > 80


def test_server_url_when_stopped_fails_cleanly(tmp_path):
    result = pgkeel("server", "url", PGKEEL_HOME=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: The embedded PostgreSQL is not running. (hint: Run `pgkeel server start`.)")


def test_server_start_stop_cycle(tmp_path):
    started = pgkeel("server", "start", "valkey", "--json", PGKEEL_HOME=str(tmp_path))
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)[0]["running"] is True
    url = pgkeel("server", "url", "valkey", PGKEEL_HOME=str(tmp_path))
    assert url.stdout.startswith("redis://127.0.0.1:")
    stopped = pgkeel("server", "stop", "valkey", "--json", PGKEEL_HOME=str(tmp_path))
    assert json.loads(stopped.stdout) == [{"server": "valkey", "stopped": True}]


def test_unknown_server_name_is_a_usage_error(tmp_path):
    result = pgkeel("server", "start", "mysql", PGKEEL_HOME=str(tmp_path))
    assert result.returncode == 2
    assert "unknown server 'mysql'" in result.stderr


def test_version_is_the_installed_distribution_version():
    from importlib.metadata import version

    import pgkeel as package

    assert package.__version__ == version("pgkeel")
    result = pgkeel("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pgkeel {version('pgkeel')}"


def test_config_docs_prints_and_rewrites_the_settings_table(tmp_path):
    printed = pgkeel("config", "docs", "--json")
    assert printed.returncode == 0, printed.stderr
    rows = json.loads(printed.stdout)
    assert {"variable": "SLOW_QUERY_MS", "default": 300,
            "meaning": "Queries slower than this are logged and counted as slow."} in rows

    doc = tmp_path / "settings.md"
    doc.write_text("intro\n<!-- settings-table pgkeel_apps.settings:DemoSettings -->\n"
                   "| stale |\n<!-- /settings-table -->\nend\n")
    result = pgkeel("config", "docs", "--write", str(doc))
    assert result.returncode == 0, result.stderr
    text = doc.read_text()
    assert "| stale |" not in text and "| `DEMO_ORGS` | `100` |" in text
    assert text.startswith("intro\n") and text.endswith("end\n")

    missing = pgkeel("config", "docs", "--settings", "pgkeel.config:Nope")
    assert missing.returncode == 1 and "No settings class" in missing.stderr
