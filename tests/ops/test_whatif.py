"""hypopg's what-if in `advise`: the planner's cost of an unindexed foreign key's lookup
without and with the advised index, built only hypothetically. hypopg is created in a
database of this test's own, never in a shared one; without hypopg the advice says why."""

from __future__ import annotations

import psycopg
import pytest

from pgkeel import ops
from pgkeel.db import Database

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers);
INSERT INTO customers SELECT g FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, 1 + g % 2000 FROM generate_series(1, 40000) g;
ANALYZE customers, orders;
"""


async def test_the_what_if_costs_the_advised_index_without_building_it(scratch_url):
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        available = conn.execute("SELECT EXISTS (SELECT FROM pg_available_extensions"
                                 " WHERE name = 'hypopg')").fetchone()
        conn.execute(SCHEMA)
    async with Database(scratch_url, min_size=1, max_size=2) as db:
        await ops.install(db)
        # Not created here: no what-if, and an advice saying how to get one.
        [missing] = [a for a in await ops.advise(db, what_if=True) if a.kind == "hypopg"]
        assert missing.sql == "CREATE EXTENSION hypopg;"
        assert ("not created" if available and available[0] else "not installed") \
            in missing.reason
        if not (available and available[0]):
            pytest.skip("hypopg is not installed on this server (Debian: "
                        "postgresql-15-hypopg; the embedded PostgreSQL 18 has none)")
        await db.execute("CREATE EXTENSION hypopg")

        advice = await ops.advise(db, what_if=True)
        [fk] = [a for a in advice if a.kind == "foreign_key_without_index"]
        result = fk.details["what_if"]
        assert result["index_used"] is True, result
        assert result["cost_after"] < result["cost_before"] / 10, result
        assert result["index"] == 'CREATE INDEX ON public.orders (customer_id)'
        assert "customer_id = %s" in result["query"]
        assert not [a for a in advice if a.kind == "hypopg"]
        # Nothing was built, and no hypothetical index outlives the what-if.
        assert await db.fetch_val("SELECT count(*) FROM pg_indexes"
                                  " WHERE tablename = 'orders'") == 1
        assert await db.fetch_val("SELECT count(*) FROM hypopg_list_indexes") == 0
        assert not [a for a in await ops.advise(db) if "what_if" in a.details]
