"""`pgkeel outbox ...`: --json output and exit codes, on a real database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgkeel.cli.app import app
from tests.cli.test_cli import pgkeel


def cli(*args: str) -> Any:
    """`pgkeel outbox ARGS` in this process (a subprocess per call costs seconds)."""
    return CliRunner().invoke(app, ["outbox", *args])


def test_install_stats_dead_replay_relay_prune(sync_conn: psycopg.Connection,
                                               pgkeel_database_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", pgkeel_database_url)
    monkeypatch.setenv("OUTBOX_SINK_URL", "memory://")
    install = cli("install", "--json")
    assert install.exit_code == 0, install.output
    assert isinstance(json.loads(install.output)["applied"], list)
    sync_conn.execute("TRUNCATE outbox.outbox_events, outbox.outbox_published")
    ids = [uuid.uuid4() for _ in range(3)]
    for i, event_id in enumerate(ids):
        sync_conn.execute(
            "INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type)"
            " VALUES (%s, 't', %s, 'x.y')", (event_id, str(i)))
    sync_conn.execute("UPDATE outbox.outbox_events SET status = 'dead', attempts = 25,"
                      " last_error = 'refused' WHERE id = %s", (ids[0],))

    stats = cli("stats", "--json")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output) | {"oldest_pending_age_s": 0} == {
        "pending": 2, "due": 2, "parked": 0, "published": 0, "dead": 1,
        "oldest_pending_age_s": 0}

    dead = cli("dead", "--json")
    assert dead.exit_code == 0, dead.output
    [row] = json.loads(dead.output)
    assert (row["id"], row["last_error"]) == (str(ids[0]), "refused")

    unknown = cli("replay", str(uuid.uuid4()), "--json")
    assert unknown.exit_code == 1
    assert json.loads(unknown.output)["error"]["code"] == "outbox_event_not_found"
    assert cli("replay").exit_code == 2  # neither ids nor --all

    replayed = cli("replay", "--all", "--json")
    assert json.loads(replayed.output) == {"replayed": [str(ids[0])]}

    relay = cli("relay", "--drain", "--json")
    assert relay.exit_code == 0, relay.output
    assert json.loads(relay.output) == {"published": 3, "sink": "memory"}

    pruned = cli("prune", "--older-than", "0", "--json")
    assert json.loads(pruned.output) == {"deleted": 3}
    human = cli("stats")
    assert human.exit_code == 0 and "published" in human.output


def test_relay_without_a_sink_is_one_line_and_exit_1(pgkeel_database_url: str) -> None:
    result = pgkeel("outbox", "relay", "--drain", DATABASE_URL=pgkeel_database_url,
                    OUTBOX_SINK_URL="kafka://127.0.0.1:9092")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: No outbox sink for URLs of scheme 'kafka'")
