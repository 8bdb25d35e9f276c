"""`pgkeel health`, `pgkeel stats`, `pgkeel ops install`: --json, and Nagios exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from pgkeel.cli.app import app
from pgkeel.embedded._process import free_port


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, pgkeel_database_url: str, pgkeel_redis_url: str
        ) -> pytest.MonkeyPatch:
    monkeypatch.setenv("DATABASE_URL", pgkeel_database_url)
    monkeypatch.setenv("REDIS_URL", pgkeel_redis_url)
    return monkeypatch


def test_install_then_health_json_and_exit_codes(env, sync_conn, pgkeel_schema):
    install = cli("ops", "install", "--json")
    assert install.exit_code == 0, install.output
    assert isinstance(json.loads(install.output)["applied"], list)

    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".s (id serial)')
    sync_conn.execute("SELECT setval(%s, 2000000000)", (f"{pgkeel_schema}.s_id_seq",))  # 93%
    warned = cli("health", "--json")
    assert warned.exit_code == 1, warned.output
    body = json.loads(warned.output)
    assert (body["state"], body["exit_code"]) == ("WARN", 1)
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["sequences"]["state"] == "WARN"
    assert f"{pgkeel_schema}.s_id_seq" in [s["sequence"] for s in
                                           checks["sequences"]["details"]["sequences"]]

    env.setenv("OPS_SEQUENCE_CRIT_PCT", "90")  # thresholds come from the settings
    crit = cli("health", "--json")
    assert crit.exit_code == 2, crit.output
    assert {c["name"]: c for c in json.loads(crit.output)["checks"]}["sequences"]["state"] \
        == "CRIT"

    human = cli("health")
    assert human.exit_code == 2 and "sequences" in human.output and "CRIT" in human.output
    sync_conn.execute(f'DROP TABLE "{pgkeel_schema}".s')


def test_health_of_an_unreachable_database_exits_2(env):
    env.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    env.setenv("DB_CONNECT_TIMEOUT_S", "1")
    result = cli("health", "--json")
    assert result.exit_code == 2, result.output
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["connectivity"]["state"] == "CRIT"


def test_health_with_a_bad_setting_exits_3(env):
    env.setenv("OPS_LATENCY_WARN_MS", "fast")
    result = cli("health", "--json")
    assert result.exit_code == 3, result.output
    assert json.loads(result.output)["error"]["code"] == "config_error"


def test_stats_json_and_text(env, sync_conn, pgkeel_schema):
    assert cli("ops", "install").exit_code == 0
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".t (id int PRIMARY KEY)')
    result = cli("stats", "--json", "--limit", "1000")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert f"{pgkeel_schema}" in [t["schema_name"] for t in body["tables"]]
    assert body["statements"]["status"] in {"ready", "not_created", "not_loaded",
                                            "not_available"}
    text = cli("stats")
    assert text.exit_code == 0, text.output
    assert "cache hit ratios" in text.output


def test_health_watch_redraws_then_exits_with_the_last_rounds_code(env, sync_conn,
                                                                   pgkeel_schema):
    assert cli("ops", "install").exit_code == 0
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".w (id serial)')
    sync_conn.execute("SELECT setval(%s, 2000000000)", (f"{pgkeel_schema}.w_id_seq",))
    result = cli("health", "--watch", "--interval", "0", "--times", "2")
    assert result.exit_code == 1, result.output
    assert "round 2" in result.output and "sequences" in result.output
    assert "WARN" in result.output
    refused = cli("health", "--watch", "--json")
    assert refused.exit_code == 3
    assert json.loads(refused.output)["error"]["code"] == "usage_error"
    sync_conn.execute(f'DROP TABLE "{pgkeel_schema}".w')
