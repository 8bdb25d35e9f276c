"""CRUD through a repository: tenant scoping that fails closed, optimistic locking, soft delete,
upsert, bulk insert, and the metrics every call records."""

from __future__ import annotations

import pytest

from pgkeel.db import use_context
from pgkeel.errors import Conflict, NotFound, TenantRequired, UsageError, VersionConflict
from pgkeel.observe import REGISTRY
from pgkeel.repo import ListQuery
from tests.repo.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.smoke


async def test_no_tenant_in_context_fails_closed(people):
    with pytest.raises(TenantRequired):
        await people.list()
    with pytest.raises(TenantRequired):
        await people.get(1)
    with pytest.raises(TenantRequired):
        await people.create({"name": "x"})


async def test_a_tenant_of_the_wrong_type_is_named_before_the_query(people):
    with use_context(org_id=42), pytest.raises(UsageError) as info:
        await people.list()
    assert info.value.message == ("people: the organization in the request context is 42 "
                                  "(int), but the tenant column org_id is uuid.")
    assert info.value.hint == "Pass use_context(org_id=...) a uuid.UUID."
    with use_context(org_id="not-a-uuid"), pytest.raises(UsageError):
        await people.get(1)
    with use_context(org_id=str(ORG_A)):  # a string the column's type parses is fine
        assert (await people.get(1))["org_id"] == ORG_A


async def test_writes_take_api_names_through_from_api(people):
    table = people.table
    assert table.from_api({"createdAt": 1, "team": "red"}) == {"created_at": 1, "team": "red"}
    with pytest.raises(UsageError) as info:
        table.from_api({"scor": 3})
    assert info.value.hint == "Did you mean 'score'?"
    with use_context(org_id=ORG_A):
        with pytest.raises(UsageError) as info:
            await people.update(1, {"createdAt": None})
        assert info.value.hint == ("'createdAt' is the API name of 'created_at': map a body "
                                   "with Table.from_api().")
        with pytest.raises(UsageError) as info:
            await people.update(1, {"scre": 3})
        assert info.value.hint == "Did you mean 'score'?"
        with pytest.raises(UsageError) as info:
            await people.update(1, {"projectId": 3})
        assert (info.value.hint or "").startswith("Known columns: ")
        row = await people.update(1, table.from_api({"score": 77, "team": "blue"}))
        assert (row["score"], row["team"]) == (77, "blue")


async def test_get_is_scoped_to_the_organization(people):
    with use_context(org_id=ORG_A):
        mine = await people.get(1)
        assert mine["org_id"] == ORG_A
        assert "secret" not in mine
        assert (await people.get(1, include=("secret",)))["secret"] == "s1"
        foreign_id = 31  # a row of ORG_B
        with pytest.raises(NotFound):
            await people.get(foreign_id)
        assert await people.find(foreign_id) is None
        assert await people.exists(1)
        assert [r["id"] for r in await people.get_many([3, 1, 31, 999])] == [1, 3]


async def test_create_takes_the_tenant_from_the_context(people):
    with use_context(org_id=ORG_A):
        row = await people.create({"name": "Zed", "team": "red"})
        assert row["org_id"] == ORG_A
        assert row["version"] == 1
        with pytest.raises(TenantRequired):
            await people.create({"name": "Evil", "org_id": ORG_B})
        with pytest.raises(UsageError):
            await people.create({"name": "x", "no_such_column": 1})


async def test_update_with_expected_version(people):
    with use_context(org_id=ORG_A):
        updated = await people.update(2, {"score": 42}, expected_version=1)
        assert (updated["score"], updated["version"]) == (42, 2)
        with pytest.raises(VersionConflict) as info:
            await people.update(2, {"score": 43}, expected_version=1)
        assert info.value.to_dict()["code"] == "version_conflict"
        with pytest.raises(NotFound):
            await people.update(31, {"score": 1})  # another organization's row
        with pytest.raises(UsageError):
            await people.update(2, {"version": 9})
        with pytest.raises(UsageError):
            await people.update(2, {"org_id": ORG_B})


async def test_soft_delete_restore_and_delete(people):
    with use_context(org_id=ORG_A):
        await people.soft_delete(4)
        assert await people.find(4) is None
        assert (await people.find(4, include_deleted=True))["deleted_at"] is not None
        assert await people.count() == 29
        with pytest.raises(NotFound):
            await people.soft_delete(4)
        restored = await people.restore(4)
        assert restored["deleted_at"] is None
        await people.delete(4)
        with pytest.raises(NotFound):
            await people.delete(4)


async def test_writes_never_reach_another_tenants_row(people, sync_conn, pgkeel_schema):
    """Every write by primary key, aimed at ORG_B's row from ORG_A: NotFound, and the row is
    still there, unchanged."""
    foreign_id = 31
    read = (f'SELECT org_id, name, score, deleted_at, version FROM "{pgkeel_schema}".people '
            "WHERE id = %s")
    before = sync_conn.execute(read, (foreign_id,)).fetchone()
    assert before is not None and before[0] == ORG_B
    with use_context(org_id=ORG_A):
        for attempt in (lambda: people.delete(foreign_id),
                        lambda: people.soft_delete(foreign_id),
                        lambda: people.restore(foreign_id),
                        lambda: people.update(foreign_id, {"score": 0})):
            with pytest.raises(NotFound):
                await attempt()
    assert sync_conn.execute(read, (foreign_id,)).fetchone() == before


async def test_upsert_never_touches_another_tenants_row(people, sync_conn, pgkeel_schema):
    sync_conn.execute(f'CREATE UNIQUE INDEX ON "{pgkeel_schema}".people (org_id, name)')
    with use_context(org_id=ORG_A):
        row = await people.upsert({"name": "person 01", "score": 77}, conflict=("org_id", "name"))
        assert (row["id"], row["score"], row["version"]) == (1, 77, 2)
        new = await people.upsert({"name": "brand new", "score": 1}, conflict=("org_id", "name"))
        assert new["version"] == 1
    with use_context(org_id=ORG_B), pytest.raises(NotFound):
        await people.upsert({"id": 1, "name": "hijack"}, conflict=("id",))
    with use_context(org_id=ORG_A):
        assert (await people.get(1))["name"] == "person 01"


async def test_unique_violation_surfaces_as_conflict(people, sync_conn, pgkeel_schema):
    sync_conn.execute(f'CREATE UNIQUE INDEX people_org_name_key ON "{pgkeel_schema}".people '
                      "(org_id, name)")
    with use_context(org_id=ORG_A), pytest.raises(Conflict) as info:
        await people.create({"name": "person 02"})
    assert info.value.constraint == "people_org_name_key"


async def test_create_many_returning_and_copy(people):
    with use_context(org_id=ORG_A):
        rows = [{"name": f"bulk {i}", "score": i} for i in range(1200)]
        created = await people.create_many(rows)
        assert len(created) == 1200
        assert {r["org_id"] for r in created} == {ORG_A}
        copied = await people.create_many([{"name": f"copy {i}"} for i in range(500)],
                                          copy=True)
        assert copied == 500
        assert await people.count() == 30 + 1200 + 500
        assert await people.count(ListQuery(search="copy")) == 500


async def test_each_call_is_measured(people):
    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("pgkeel_repo_duration_seconds_count", {"repo": "people", "operation": "get"})
    errors = sample("pgkeel_repo_errors_total",
                    {"repo": "people", "operation": "get", "error": "not_found"})
    with use_context(org_id=ORG_A):
        await people.get(1)
        with pytest.raises(NotFound):
            await people.get(999)
    assert sample("pgkeel_repo_duration_seconds_count",
                  {"repo": "people", "operation": "get"}) == before + 2
    assert sample("pgkeel_repo_errors_total",
                  {"repo": "people", "operation": "get", "error": "not_found"}) == errors + 1
