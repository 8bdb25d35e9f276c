"""Trigger capture: bulk raw SQL, composite keys, key changes, excluded and ignored columns,
row mode, partitioned tables, TRUNCATE, and clients that never set a context."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgkeel.db import use_context
from pgkeel.errors import UsageError

pytestmark = pytest.mark.smoke


def _events(sync_conn, entity_type, *columns):
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sync_conn.execute(
        sql.SQL("SELECT {} FROM audit.audit_log WHERE entity_type = %s ORDER BY id").format(cols),
        (entity_type,)).fetchall()


@pytest.mark.parametrize("mode", ["statement", "row"])
async def test_bulk_update_of_10000_rows_in_raw_sql(audit, pgkeel_db, pgkeel_schema, org,
                                                    sync_conn, mode):
    table = sql.Identifier(pgkeel_schema, "accounts")
    name = f"{pgkeel_schema}.accounts"
    sync_conn.execute(sql.SQL(
        "CREATE TABLE {} (id bigint PRIMARY KEY, status text NOT NULL, balance int NOT NULL)"
    ).format(table))
    sync_conn.execute(sql.SQL(
        "INSERT INTO {} SELECT i, 'active', i FROM generate_series(1, 12000) AS i").format(table))
    assert await audit.enable(name, mode=mode) == mode

    with use_context(org_id=org, actor_id="bulk-admin", request_id="req-bulk"):
        async with pgkeel_db.transaction() as tx:
            changed = await tx.execute(sql.SQL(
                "UPDATE {} SET status = 'archived', balance = balance * 2 WHERE id <= 10000"
            ).format(table))
    assert changed == 10_000

    summary = sync_conn.execute("""
        SELECT count(*),
               count(*) FILTER (WHERE actor_id = 'bulk-admin' AND organization_id = %(org)s
                                AND request_id = 'req-bulk' AND action = 'UPDATE'),
               count(*) FILTER (WHERE old_values ->> 'status' = 'active'
                                AND new_values ->> 'status' = 'archived'),
               count(*) FILTER (WHERE (new_values ->> 'balance')::int
                                      = 2 * (old_values ->> 'balance')::int
                                AND (old_values ->> 'balance')::int = entity_id::int),
               count(*) FILTER (WHERE changed_fields = '{balance,status}'),
               count(DISTINCT entity_id), min(entity_id::int), max(entity_id::int),
               count(DISTINCT txid)
        FROM audit.audit_log WHERE entity_type = %(name)s""", {"org": org, "name": name}
    ).fetchone()
    assert summary == (10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 1, 10_000, 1)
    report = await audit.verify(org_id=org)
    assert report.ok, report.findings
    assert report.rows == 10_000


async def test_composite_keys_key_changes_and_column_options(audit, pgkeel_schema, org,
                                                              sync_conn):
    table = sql.Identifier(pgkeel_schema, "memberships")
    name = f"{pgkeel_schema}.memberships"
    sync_conn.execute(sql.SQL(
        "CREATE TABLE {} (org_id text, user_id int, role text, secret text,"
        " updated_at timestamptz DEFAULT now(), PRIMARY KEY (org_id, user_id))").format(table))
    await audit.enable(name, exclude=["secret"], ignore=["updated_at"], org_column="org_id")

    ops = [
        "INSERT INTO {t} (org_id, user_id, role, secret) VALUES (%(o)s, 1, 'admin', 's1'),"
        " (%(o)s, 2, 'viewer', 's2')",
        "UPDATE {t} SET role = 'editor', secret = 's3' WHERE user_id = 2",
        "UPDATE {t} SET updated_at = now() + interval '1 hour'",          # ignored only
        "UPDATE {t} SET role = role",                                     # no change at all
        "UPDATE {t} SET user_id = user_id + 100 WHERE user_id = 1",       # key change
        "DELETE FROM {t} WHERE user_id = 2",
    ]
    for op in ops:   # a plain connection: no pgkeel context, so the row's org_id is used
        sync_conn.execute(sql.SQL(op).format(t=table), {"o": org})

    events = _events(sync_conn, name, "organization_id", "actor_id", "action", "entity_id",
                     "old_values", "new_values", "changed_fields", "metadata")
    assert [(e[2], e[3]) for e in events] == [
        ("INSERT", f'["{org}", 1]'), ("INSERT", f'["{org}", 2]'),
        ("UPDATE", f'["{org}", 2]'), ("UPDATE", f'["{org}", 101]'),
        ("DELETE", f'["{org}", 2]')]
    assert {e[0] for e in events} == {org}
    assert {e[1] for e in events} == {None}
    assert all(e[7]["source"] == "trigger" and e[7]["db_user"] for e in events)
    role_change = events[2]
    assert role_change[6] == ["role", "secret"]              # secret's change is listed...
    assert "secret" not in role_change[4] and "secret" not in role_change[5]   # ...not stored
    assert (role_change[4]["role"], role_change[5]["role"]) == ("viewer", "editor")
    key_change = events[3]
    assert (key_change[4]["user_id"], key_change[5]["user_id"]) == (1, 101)
    assert key_change[6] == ["user_id"]
    assert events[4][5] is None and events[4][4]["role"] == "editor"
    assert (await audit.verify(org_id=org)).ok


async def test_truncate_disable_and_tracked_tables(audit, pgkeel_schema, org, sync_conn):
    table = sql.Identifier(pgkeel_schema, "Mixed Case")
    name = f'{pgkeel_schema}."Mixed Case"'
    sync_conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(table))
    await audit.enable(name, mode="row")
    assert any(t.table.endswith('"Mixed Case"') and t.mode == "row"
               for t in await audit.tracked_tables())
    entity = f"{pgkeel_schema}.Mixed Case"
    sync_conn.execute("SELECT set_config('pgkeel.org_id', %s, false)", (org,))
    sync_conn.execute(sql.SQL("INSERT INTO {} VALUES (1), (2)").format(table))
    sync_conn.execute(sql.SQL("TRUNCATE {}").format(table))
    assert await audit.disable(name) is True
    assert await audit.disable(name) is False
    sync_conn.execute(sql.SQL("INSERT INTO {} VALUES (3)").format(table))
    sync_conn.execute("SELECT set_config('pgkeel.org_id', '', false)")
    assert [e[0] for e in _events(sync_conn, entity, "action")] == ["INSERT", "INSERT",
                                                                   "TRUNCATE"]


async def test_partitioned_tables_get_row_triggers(audit, pgkeel_db, pgkeel_schema, org,
                                                   sync_conn):
    parent = sql.Identifier(pgkeel_schema, "events")
    part = sql.Identifier(pgkeel_schema, "events_2024")
    sync_conn.execute(sql.SQL(
        "CREATE TABLE {} (id int, at date, v int, PRIMARY KEY (id, at))"
        " PARTITION BY RANGE (at)").format(parent))
    sync_conn.execute(sql.SQL(
        "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    ).format(part, parent))
    assert await audit.enable(f"{pgkeel_schema}.events") == "row"
    with use_context(org_id=org, actor_id="p"):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("INSERT INTO {} VALUES (1, '2024-05-01', 1)").format(
                parent))
            await tx.execute(sql.SQL("UPDATE {} SET v = 2").format(part))   # the partition
    assert [e[0] for e in _events(sync_conn, f"{pgkeel_schema}.events", "action")] == [
        "INSERT", "UPDATE"]


async def test_enable_refuses_what_it_cannot_audit(audit, pgkeel_schema, sync_conn):
    sync_conn.execute(sql.SQL("CREATE TABLE {} (a int)").format(
        sql.Identifier(pgkeel_schema, "nokey")))
    with pytest.raises(UsageError, match="no primary key"):
        await audit.enable(f"{pgkeel_schema}.nokey")
    with pytest.raises(UsageError, match="does not exist"):
        await audit.enable(f"{pgkeel_schema}.missing")
    with pytest.raises(UsageError, match="no column"):
        sync_conn.execute(sql.SQL("CREATE TABLE {} (a int PRIMARY KEY)").format(
            sql.Identifier(pgkeel_schema, "k")))
        await audit.enable(f"{pgkeel_schema}.k", exclude=["nope"])
    with pytest.raises(UsageError, match="cannot be audited"):
        await audit.enable("audit.chain_links")
