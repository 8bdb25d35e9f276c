"""A list request's statements come from a cache of its shape: whatever the request, they
are exactly the statements composed for it from scratch, with its own parameter values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from psycopg.rows import dict_row

from pgkeel.repo import CursorCodec, ListQuery, parse_list_params
from pgkeel.repo.compiler import Compiler, Where
from pgkeel.repo.listing import binding_for, build_list
from pgkeel.repo.params import check_offset, effective_sort
from pgkeel.repo.query import CountMode
from tests.repo.conftest import ORG_A, ORG_B, people_table

CODEC = CursorCodec(b"0123456789abcdef-test-secret")
TABLE = people_table("s")

REQUESTS: list[list[tuple[str, str]]] = [
    [],
    [("page", "2"), ("pageSize", "7")],
    [("score", "3")],
    [("score", "4")],
    [("score[gte]", "2"), ("name[ilike]", "person*")],
    [("team[is]", "null")],
    [("team[is]", "notnull")],
    [("score[in]", "1,2,3")],
    [("score[between]", "1,4")],
    [("tagged", "x"), ("createdFrom", "2024-01-02")],
    [("q", "pers_on 1%")],
    [("q", "other"), ("team", "red"), ("sort", "name,-id")],
    [("sort", "-score")],
    [("sort", "team,score")],
    [("count", "none")], [("count", "planned")], [("count", "estimated")],
    [("count", "estimated"), ("score[lt]", "3")],
]


def _reference(compiler: Compiler, query: ListQuery, tenant: Any,
               include_deleted: bool) -> list[tuple[bytes, list[Any]]]:
    """The statements composed from the compiler's pieces, with nothing remembered."""
    table = compiler.table
    where = Where()
    compiler.scope(where, tenant, include_deleted=include_deleted)
    compiler.filters(where, query.filters)
    if query.search:
        compiler.search(where, query.search)
    keys = effective_sort(table, query.sort)
    if query.keyset:
        limit = query.limit or table.page_size
        backward = False
        if query.cursor:
            binding = binding_for(table, keys, query, tenant)
            values, backward = CODEC.decode(query.cursor, keys=keys, binding=binding)
            compiler.after(where, keys, values, backward=backward)
        statement = compiler.select(where, order=compiler.order(keys, backward=backward),
                                    limit=True)
        return [(statement, [*where.params, limit + 1])]
    size, page = query.page_size or table.page_size, query.page or 1
    mode = query.count or table.count
    out = [(compiler.select(where, order=compiler.order(keys), limit=True, offset=True),
            [*where.params, size, check_offset(page, size)])]
    if mode is CountMode.EXACT:
        out.append((compiler.count(where, "exact"), where.params))
    elif mode is CountMode.PLANNED:
        out.append((compiler.count(where, "planned"), where.params))
    elif mode is CountMode.ESTIMATED:
        out.append((compiler.count(where, "limited"),
                    [*where.params, table.count_threshold + 1]))
        out.append((compiler.count(where, "planned"), where.params))
    return out


def _built(compiler: Compiler, query: ListQuery, tenant: Any,
           include_deleted: bool) -> list[tuple[bytes, list[Any]]]:
    plan = build_list(compiler, CODEC, query, tenant, dict_row,
                      include_deleted=include_deleted)
    statements = [(s, list(p)) for s, p, _ in plan.statements]
    if plan.planned is not None:
        statements.append((plan.planned[0], list(plan.planned[1])))
    return statements


@pytest.mark.parametrize("include_deleted", [False, True])
def test_offset_statements_match_a_fresh_composition_request_after_request(include_deleted):
    cached = Compiler(TABLE)
    # Every request twice, for two tenants, in an order where shapes repeat with new values.
    for tenant in (ORG_A, ORG_B, ORG_A):
        for pairs in REQUESTS:
            query = parse_list_params(TABLE, pairs)
            expected = _reference(Compiler(TABLE), query, tenant, include_deleted)
            assert _built(cached, query, tenant, include_deleted) == expected, pairs


def _cursor(values: list[Any], *, backward: bool, pairs: list[tuple[str, str]],
            tenant: Any) -> str:
    query = parse_list_params(TABLE, [*pairs, ("limit", "5")])
    keys = effective_sort(TABLE, query.sort)
    return CODEC.encode(values, backward=backward,
                        binding=binding_for(TABLE, keys, query, tenant))


@pytest.mark.parametrize(("pairs", "values"), [
    ([], ["2024-01-03T00:00:00+00:00", 7]),
    ([("score", "3")], ["2024-01-03T00:00:00+00:00", 9]),
    ([("sort", "team,score")], ["red", None, 4]),       # nullable keys: the OR-expansion
    ([("sort", "team,score")], [None, 2, 4]),
    ([("sort", "team,score")], [None, None, 4]),
    ([("sort", "-score,name"), ("q", "person")], [3, "person 08", 8]),
    ([("sort", "name,-id")], ["person 05", 5]),         # mixed directions
])
@pytest.mark.parametrize("backward", [False, True])
def test_keyset_statements_match_a_fresh_composition(pairs, values, backward):
    cached = Compiler(TABLE)
    for tenant in (ORG_A, ORG_B, ORG_A):
        first = parse_list_params(TABLE, [*pairs, ("limit", "5")])
        after = parse_list_params(TABLE, [*pairs, ("limit", "5"), (
            "cursor", _cursor(values, backward=backward, pairs=pairs, tenant=tenant))])
        for query in (first, after, first):
            expected = _reference(Compiler(TABLE), query, tenant, False)
            assert _built(cached, query, tenant, False) == expected


def test_a_repeated_shape_shares_its_statement_and_binds_its_own_values():
    compiler = Compiler(TABLE)
    one = build_list(compiler, CODEC, parse_list_params(TABLE, [("score", "1")]), ORG_A,
                     dict_row)
    two = build_list(compiler, CODEC, parse_list_params(TABLE, [("score", "2")]), ORG_B,
                     dict_row)
    assert one.statements[0][0] is two.statements[0][0]
    assert one.statements[0][1] == [ORG_A, 1, 5, 0]
    assert two.statements[0][1] == [ORG_B, 2, 5, 0]
    null = build_list(compiler, CODEC, parse_list_params(TABLE, [("score[is]", "null")]),
                      ORG_A, dict_row)
    not_null = build_list(compiler, CODEC, parse_list_params(TABLE, [("score[is]", "notnull")]),
                          ORG_A, dict_row)
    assert b"IS NULL" in null.statements[0][0] and b"IS NOT NULL" in not_null.statements[0][0]


def test_a_global_table_binds_no_tenant():
    from pgkeel.repo import Field, FieldType, Table
    from pgkeel.repo.fields import COMPARABLE
    table = Table("s", "flags", [Field("id", FieldType.UUID, filter=COMPARABLE, sort=True,
                                       nullable=False)], default_sort=("id",),
                  global_table=True)
    query = parse_list_params(table, [("id", str(uuid.UUID(int=3)))])
    assert _built(Compiler(table), query, None, False) == _reference(
        Compiler(table), query, None, False)
