"""Listing on a real table: count modes, filters, search, and keyset walks over duplicate and
NULL sort values that visit every row exactly once in both directions."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgkeel.db import use_context
from pgkeel.errors import InvalidParameter
from pgkeel.repo import Page, Repository, parse_list_params
from tests.repo.conftest import ORG_A, ORG_B


def q(repo: Repository, *pairs: tuple[str, str]):
    return parse_list_params(repo.table, list(pairs))


async def _expected_ids(repo: Repository, sync_conn, schema: str, order: str,
                        where: str = "TRUE") -> list[int]:
    rows = sync_conn.execute(sql.SQL(
        "SELECT id FROM {} WHERE org_id = %s AND deleted_at IS NULL AND "
        + where.replace("%", "%%") +
        " ORDER BY " + order).format(sql.Identifier(schema, "people")), (ORG_A,)).fetchall()
    return [r[0] for r in rows]


async def test_offset_page_envelope_with_exact_count(people):
    with use_context(org_id=ORG_A):
        page = await people.list(q(people, ("page", "2"), ("pageSize", "7")))
    assert not page.keyset
    envelope = page.envelope()
    assert set(envelope) == {"items", "page", "pageSize", "total", "totalPages",
                             "totalIsEstimate"}
    assert (envelope["page"], envelope["pageSize"], envelope["total"],
            envelope["totalPages"], envelope["totalIsEstimate"]) == (2, 7, 30, 5, False)
    assert len(page.items) == 7
    assert all("secret" not in row for row in page.items), "sensitive columns are not selected"


async def test_count_modes(people, sync_conn, pgkeel_schema):
    sync_conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(pgkeel_schema, "people")))
    with use_context(org_id=ORG_A):
        none = await people.list(q(people, ("count", "none")))
        planned = await people.list(q(people, ("count", "planned")))
        small = await people.list(q(people, ("count", "estimated"), ("score", "1")))
        large = await people.list(q(people, ("count", "estimated")))
    assert (none.total, none.total_pages) == (None, None)
    assert planned.total_is_estimate and planned.total is not None and planned.total >= 1
    # below the table's threshold (10) the estimated mode is exact ...
    ones = await _expected_ids(people, sync_conn, pgkeel_schema, "id", "score = 1")
    assert (small.total, small.total_is_estimate) == (len(ones), False)
    # ... above it, it is max(limited exact count, planner estimate) and says so
    assert large.total_is_estimate
    assert large.total is not None and large.total >= 11


async def test_estimated_count_asks_the_planner_only_beyond_the_threshold(people, sync_conn,
                                                                        pgkeel_schema):
    sync_conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(pgkeel_schema, "people")))
    observer = people.db.observer
    slow_ms, observer.slow_ms = observer.slow_ms, 0.0   # every statement is kept as "slow"

    def sent_since(mark: int) -> list[str]:
        """The statements on the people table since `mark` (not the catalog's)."""
        return [query.sql for query in observer.slow_queries(0.0)[mark:]
                if '"people"' in query.sql]

    try:
        with use_context(org_id=ORG_A):
            mark = len(observer.slow_queries(0.0))
            small = await people.list(q(people, ("count", "estimated"), ("score", "1")))
            below = sent_since(mark)
            mark = len(observer.slow_queries(0.0))
            large = await people.list(q(people, ("count", "estimated")))
            beyond = sent_since(mark)
            async with people.db.transaction() as tx:   # the same inside a caller's transaction
                in_tx = await people.list(q(people, ("count", "estimated")), tx=tx)
    finally:
        observer.slow_ms = slow_ms
    # below the threshold (10): the page and the limited count, and no EXPLAIN
    assert small.total is not None and small.total <= 10 and not small.total_is_estimate
    assert len(below) == 2 and not any("EXPLAIN" in text for text in below)
    # beyond it: the planner's estimate follows, and the page says it is one
    assert [("EXPLAIN" in text) for text in beyond] == [False, False, True]
    assert large.total_is_estimate and large.total is not None and large.total >= 11
    assert (in_tx.total, in_tx.total_is_estimate) == (large.total, True)
    assert [r["id"] for r in in_tx.items] == [r["id"] for r in large.items]


async def test_filters_and_search_match_sql(people, sync_conn, pgkeel_schema):
    cases = [
        ((("active", "true"),), "active"),
        ((("team[in]", "red,blue"),), "team IN ('red','blue')"),
        ((("score[gte]", "3"), ("score[lt]", "5")), "score >= 3 AND score < 5"),
        ((("score[is]", "null"),), "score IS NULL"),
        ((("team[is]", "notnull"), ("score[between]", "1,2")),
         "team IS NOT NULL AND score BETWEEN 1 AND 2"),
        ((("createdFrom", "2024-01-03"), ("createdTo", "2024-01-05")),
         "created_at >= '2024-01-03' AND created_at < '2024-01-06'"),
        ((("q", "person 1"),), "name ILIKE '%person 1%'"),
        ((("name[ilike]", "*0*"),), "name ILIKE '%0%'"),
        ((("tagged", "x"),), "team IS NOT NULL"),
        ((("score[nin]", "1,2"),), "score <> ALL(ARRAY[1,2])"),
    ]
    for pairs, where in cases:
        with use_context(org_id=ORG_A):
            page = await people.list(q(people, *pairs, ("pageSize", "50"), ("sort", "id")))
        expected = await _expected_ids(people, sync_conn, pgkeel_schema, "id", where)
        assert [r["id"] for r in page.items] == expected, pairs
        assert page.total == len(expected)


async def test_search_escapes_like_metacharacters(people):
    with use_context(org_id=ORG_A):
        page = await people.list(q(people, ("q", "%")))
    assert page.items == []


SORTS = ["team,score", "-score,team", "team,-score", "-team,-score", "score", "-createdAt",
         "name"]


@pytest.mark.parametrize("sort", SORTS)
async def test_keyset_walks_every_row_once_in_both_directions(people, sort, sync_conn,
                                                               pgkeel_schema):
    with use_context(org_id=ORG_A):
        forward: list[int] = []
        pages: list[Page] = []
        page = await people.list(q(people, ("sort", sort), ("limit", "4")))
        while True:
            assert page.keyset
            assert set(page.envelope()) == {"items", "limit", "nextCursor", "prevCursor"}
            pages.append(page)
            forward += [r["id"] for r in page.items]
            if page.next_cursor is None:
                break
            page = await people.list(q(people, ("sort", sort), ("limit", "4"),
                                       ("cursor", page.next_cursor)))
        assert len(forward) == 30
        assert len(set(forward)) == 30, "no row twice"
        order = ", ".join(_sql_order(key) for key in sort.split(",")) + ", id"
        if sort.split(",")[-1].startswith("-"):
            order = order.removesuffix(", id") + ", id DESC"
        assert forward == await _expected_ids(people, sync_conn, pgkeel_schema, order)
        assert pages[0].prev_cursor is None

        backward: list[int] = []
        page = pages[-1]
        backward = [r["id"] for r in page.items] + backward
        while page.prev_cursor is not None:
            page = await people.list(q(people, ("sort", sort), ("limit", "4"),
                                       ("cursor", page.prev_cursor)))
            backward = [r["id"] for r in page.items] + backward
        assert backward == forward


def _sql_order(key: str) -> str:
    column = {"createdAt": "created_at"}.get(key.lstrip("-"), key.lstrip("-"))
    return f"{column} DESC NULLS FIRST" if key.startswith("-") else f"{column} ASC NULLS LAST"


async def test_cursor_is_bound_to_filters_sort_and_tenant(people):
    with use_context(org_id=ORG_A):
        first = await people.list(q(people, ("active", "true"), ("limit", "3")))
        cursor = first.next_cursor
        assert cursor
        again = await people.list(q(people, ("active", "true"), ("limit", "3"),
                                    ("cursor", cursor)))
        assert again.items
        with pytest.raises(InvalidParameter, match="different query"):
            await people.list(q(people, ("active", "false"), ("limit", "3"), ("cursor", cursor)))
        with pytest.raises(InvalidParameter, match="different query"):
            await people.list(q(people, ("active", "true"), ("sort", "name"), ("limit", "3"),
                                ("cursor", cursor)))
        tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
        with pytest.raises(InvalidParameter, match="bad signature"):
            await people.list(q(people, ("active", "true"), ("limit", "3"),
                                ("cursor", tampered)))
        with pytest.raises(InvalidParameter, match="malformed"):
            await people.list(q(people, ("limit", "3"), ("cursor", "garbage")))
    with use_context(org_id=ORG_B), pytest.raises(InvalidParameter, match="different query"):
        await people.list(q(people, ("active", "true"), ("limit", "3"), ("cursor", cursor)))


async def test_tenants_only_see_their_rows(people):
    with use_context(org_id=ORG_B):
        page = await people.list(q(people, ("pageSize", "50")))
    assert page.total == 5
    assert {r["org_id"] for r in page.items} == {ORG_B}


async def test_list_in_a_given_transaction_and_on_a_replica_flag(people, pgkeel_db):
    with use_context(org_id=ORG_A):
        async with pgkeel_db.transaction() as tx:
            page = await people.list(q(people, ("pageSize", "3")), tx=tx)
        assert len(page.items) == 3
        replica_page = await people.list(q(people, ("pageSize", "3")), replica=True)
        assert replica_page.total == 30


async def test_deep_offsets_are_refused_with_a_pointer_to_keyset_paging(people):
    """OFFSET makes PostgreSQL read and drop every skipped row: past MAX_OFFSET, a 400."""
    from pgkeel.repo.params import MAX_OFFSET
    last_ok = MAX_OFFSET // 50 + 1  # skips exactly MAX_OFFSET rows at pageSize 50
    with use_context(org_id=ORG_A):
        page = await people.list(q(people, ("page", str(last_ok)), ("pageSize", "50")))
        assert page.items == []
        with pytest.raises(InvalidParameter) as info:
            await people.list(q(people, ("page", str(last_ok + 1)), ("pageSize", "50")))
        with pytest.raises(InvalidParameter):
            await people.list(q(people, ("page", "10000000"), ("pageSize", "50")))
    assert info.value.details["parameter"] == "page"
    assert info.value.details["max_offset"] == MAX_OFFSET
    assert "cursor" in (info.value.hint or "")


async def test_statements_differing_only_in_sort_order_are_cached_apart(people):
    """The statement cache is keyed on the ORDER BY too: the second sort is not served the
    first one's SQL."""
    with use_context(org_id=ORG_A):
        ascending = await people.list(q(people, ("sort", "id"), ("pageSize", "50")))
        descending = await people.list(q(people, ("sort", "-id"), ("pageSize", "50")))
    ids = [r["id"] for r in ascending.items]
    assert ids == sorted(ids) and len(ids) == 30
    assert [r["id"] for r in descending.items] == ids[::-1]
    from pgkeel.repo.compiler import Where
    first = people.compiler.select(Where(), order=(("name", False), ("id", False)))
    second = people.compiler.select(Where(), order=(("name", True), ("id", False)))
    assert first != second and b"DESC" in second and b"DESC" not in first


async def test_like_filters_match_percent_and_underscore_literally(people, sync_conn,
                                                                   pgkeel_schema):
    """`*` is the wildcard; a user's `%` or `_` never widens the pattern."""
    sync_conn.execute(sql.SQL("INSERT INTO {} (org_id, name) VALUES (%s, '100%% off'), "
                              "(%s, 'snake_case')").format(sql.Identifier(pgkeel_schema,
                                                                          "people")),
                      (ORG_A, ORG_A))
    async def names(value: str) -> list[str]:
        with use_context(org_id=ORG_A):
            page = await people.list(q(people, ("name[ilike]", value), ("pageSize", "50")))
        return sorted(r["name"] for r in page.items)

    assert await names("%") == []
    assert await names("*%*") == ["100% off"]
    assert await names("snake_case") == ["snake_case"]
    assert await names("snake_cas_") == []
    assert await names("person 0*") == [f"person 0{i}" for i in range(1, 10)]


async def test_a_wildcard_scan_stays_inside_the_statement_timeout(people, sync_conn,
                                                                  pgkeel_schema, pgkeel_db):
    """However the pattern reads, the scan runs under the transaction's statement timeout:
    a pattern that makes PostgreSQL read every row is cancelled (QueryTimeout), not left
    running."""
    from pgkeel.errors import QueryTimeout
    sync_conn.execute(sql.SQL(
        "INSERT INTO {} (org_id, name) SELECT %s, repeat(md5(i::text), 8) "
        "FROM generate_series(1, 200000) AS i").format(sql.Identifier(pgkeel_schema,
                                                                      "people")), (ORG_A,))
    with use_context(org_id=ORG_A), pytest.raises(QueryTimeout):
        async with pgkeel_db.transaction(timeout=0.001) as tx:
            await people.list(q(people, ("name[ilike]", "*a*b*c*d*e*f*0*9*"),
                                ("count", "exact")), tx=tx)
