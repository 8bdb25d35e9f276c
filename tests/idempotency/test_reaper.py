"""The reaper and the stats, as a library call and as `pgkeel idempotency ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pgkeel import idempotency
from pgkeel.idempotency import IdempotencyStore, StoredResponse
from tests.idempotency.conftest import Client, new_key


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgkeel", "idempotency", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url})


async def _keys(store: IdempotencyStore, org: str, *, completed: int, in_flight: int) -> None:
    for i in range(completed + in_flight):
        claim = await store.claim(org, "POST /x", f"k{i}", b"fp")
        assert not isinstance(claim, StoredResponse)
        if i < completed:
            assert await store.save(claim, StoredResponse(201, [], b"{}"))


@pytest.mark.smoke
async def test_reap_deletes_expired_keys_and_stale_locks(client: Client, org: str):
    store = IdempotencyStore(client.db)
    await _keys(store, org, completed=7, in_flight=4)
    other = org + "-untouched"
    await _keys(store, other, completed=2, in_flight=1)
    before = await idempotency.stats(client.db, org=org)
    assert (before.total, before.completed, before.in_flight, before.stale,
            before.expired) == (11, 7, 4, 0, 0)

    await client.db.execute(  # five answered keys expire; two in-flight leases run out
        "UPDATE idempotency.idempotency_keys SET expires_at = now() "
        "WHERE organization_id = %s AND key IN ('k0','k1','k2','k3','k4')", (org,))
    await client.db.execute(
        "UPDATE idempotency.idempotency_keys SET locked_until = now() "
        "WHERE organization_id = %s AND key IN ('k7','k8')", (org,))
    due = await idempotency.stats(client.db, org=org)
    assert (due.completed, due.in_flight, due.stale, due.expired) == (2, 2, 2, 5)

    report = await idempotency.reap(client.db, batch_size=2, org=org)
    assert (report.expired, report.stale) == (5, 2)
    assert report.batches >= 4, "small batches: 5 expired rows take three, 2 stale two"
    left = sorted(r["key"] for r in await client.keys(org))
    assert left == ["k10", "k5", "k6", "k9"]
    assert (await idempotency.stats(client.db, org=other)).total == 3
    again = await idempotency.reap(client.db, org=org)
    assert (again.expired, again.stale) == (0, 0)


async def test_reap_respects_max_batches_and_grace(client: Client, org: str):
    store = IdempotencyStore(client.db)
    await _keys(store, org, completed=0, in_flight=3)
    await client.db.execute("UPDATE idempotency.idempotency_keys SET locked_until = now() "
                            "WHERE organization_id = %s", (org,))
    graced = await idempotency.reap(client.db, org=org, stale_grace_s=3600)
    assert graced.stale == 0, "the leases ended less than an hour ago"
    await client.db.execute("UPDATE idempotency.idempotency_keys SET expires_at = now() "
                            "WHERE organization_id = %s", (org,))
    capped = await idempotency.reap(client.db, org=org, batch_size=1, max_batches=2)
    assert (capped.expired, capped.batches) == (2, 2)


async def test_reaped_stale_key_lets_the_request_run_again(client: Client, org: str):
    key = new_key()
    store = IdempotencyStore(client.db)
    body = b'{"name":"n"}'
    await store.claim(org, "POST /items", key,
                      idempotency.fingerprint("POST", "POST /items", body, path_params={}))
    await client.db.execute("UPDATE idempotency.idempotency_keys SET locked_until = now() "
                            "WHERE organization_id = %s", (org,))
    assert (await idempotency.reap(client.db, org=org)).stale == 1
    retried = await client.post("/items", org, key, {"name": "n"})
    assert retried.status_code == 201
    assert retried.json()["attempts"] == 1


async def test_cli_stats_and_reap(client: Client, org: str, pgkeel_database_url: str):
    store = IdempotencyStore(client.db)
    await _keys(store, org, completed=3, in_flight=0)
    await client.db.execute("UPDATE idempotency.idempotency_keys SET expires_at = now() "
                            "WHERE organization_id = %s AND key = 'k0'", (org,))
    shown = cli(pgkeel_database_url, "stats", "--org", org, "--json")
    assert shown.returncode == 0, shown.stderr
    assert {k: v for k, v in json.loads(shown.stdout).items() if k != "oldest_created_at"} == {
        "total": 3, "completed": 2, "in_flight": 0, "stale": 0, "expired": 1, "retried": 0,
        "organizations": 1}
    reaped = cli(pgkeel_database_url, "reap", "--org", org, "--json")
    assert reaped.returncode == 0, reaped.stderr
    assert json.loads(reaped.stdout)["expired"] == 1
    human = cli(pgkeel_database_url, "reap", "--org", org)
    assert human.stdout.startswith("deleted 0 expired and 0 stale keys")
    installed = cli(pgkeel_database_url, "install", "--json")
    assert installed.returncode == 0 and json.loads(installed.stdout) == {"applied": []}


def test_cli_reports_a_missing_schema_in_one_line(admin_url: str):
    from pgkeel.testing.databases import create_database, drop_database

    url = create_database(admin_url)
    try:
        result = cli(url, "stats")
        assert result.returncode == 1
        assert result.stderr.strip().startswith("error: The idempotency schema is not installed")
        assert "pgkeel idempotency install" in result.stderr
        as_json = cli(url, "stats", "--json")
        assert json.loads(as_json.stdout)["error"]["code"] == "idempotency_not_installed"
    finally:
        drop_database(admin_url, url)
