"""The list grammar: every rule, every error, and a fuzz that only ever yields a query or a 400."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgkeel.errors import InvalidParameter
from pgkeel.repo import CountMode, Op, parse_list_params
from pgkeel.repo.params import effective_sort
from tests.repo.conftest import people_table

pytestmark = pytest.mark.smoke

TABLE = people_table("s")


def parse(*pairs: tuple[str, str]):
    return parse_list_params(TABLE, list(pairs))


def fails(*pairs: tuple[str, str]) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as info:
        parse(*pairs)
    assert info.value.to_dict()["code"] == "invalid_parameter"
    return info.value


def test_offset_paging():
    query = parse(("page", "3"), ("pageSize", "10"))
    assert (query.page, query.page_size, query.keyset) == (3, 10, False)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", ""])
def test_bad_page(value):
    assert fails(("page", value)).details["parameter"] == "page"


def test_page_size_above_max_is_rejected_not_clamped():
    err = fails(("pageSize", "51"))
    assert err.details["maximum"] == 50
    assert err.hint == "Use at most 50."


def test_keyset_paging_and_mixing_is_rejected():
    assert parse(("limit", "10")).keyset
    assert parse(("cursor", "abc.def")).cursor == "abc.def"
    fails(("cursor", "x"), ("page", "1"))
    fails(("limit", "5"), ("pageSize", "5"))
    fails(("cursor", ""))


def test_count_modes():
    assert parse(("count", "planned")).count is CountMode.PLANNED
    fails(("count", "sometimes"))
    fails(("count", "exact"), ("limit", "5"))


def test_sort_forms():
    assert [k.token() for k in parse(("sortField", "name"), ("sortDirection", "desc")).sort] \
        == ["-name"]
    assert [k.token() for k in parse(("sort", "-createdAt,name")).sort] == ["-createdAt", "name"]
    assert parse(("sortField", "score")).sort[0].descending is False


def test_sort_errors_have_did_you_mean():
    err = fails(("sortField", "nmae"))
    assert err.hint == "Did you mean 'name'?"
    assert "name" in err.details["allowed"]
    fails(("sortDirection", "up"), ("sortField", "name"))
    fails(("sortDirection", "asc"))
    fails(("sort", "name"), ("sortField", "name"))
    fails(("sort", "name,,score"))
    fails(("sort", "name,-name"))
    assert fails(("sort", "secret")).details["parameter"] == "sort"  # sensitive: not sortable


def test_effective_sort_is_total():
    keys = effective_sort(TABLE, parse(("sort", "team")).sort)
    assert [k.token() for k in keys] == ["team", "id"]
    assert [k.token() for k in effective_sort(TABLE, [])] == ["-createdAt", "-id"]


def test_plain_and_operator_filters():
    query = parse(("active", "true"), ("score[gte]", "3"), ("team[in]", "red,blue"),
                  ("team[is]", "notnull"), ("score[between]", "1,4"), ("name[ilike]", "per*"))
    by_key = {(f.field.name, f.op): f.value for f in query.filters}
    assert by_key[("active", Op.EQ)] is True
    assert by_key[("score", Op.GTE)] == 3
    assert by_key[("team", Op.IN)] == ["red", "blue"]
    assert by_key[("team", Op.IS)] is False
    assert by_key[("score", Op.BETWEEN)] == [1, 4]
    assert by_key[("name", Op.ILIKE)] == "per%"


def test_ranges_and_whole_day_upper_bound():
    query = parse(("createdFrom", "2024-01-01"), ("createdTo", "2024-12-31"))
    low, high = query.filters
    assert (low.op, low.value) == (Op.GTE, dt.date(2024, 1, 1))
    assert (high.op, high.value) == (Op.LT, dt.date(2025, 1, 1))
    exact = parse(("createdTo", "2024-12-31T10:00:00Z")).filters[0]
    assert exact.op is Op.LTE


@pytest.mark.parametrize(("pair", "parameter"), [
    (("score", "ten"), "score"),
    (("active", "maybe"), "active"),
    (("createdFrom", "yesterday"), "createdFrom"),
    (("score[between]", "1"), "score[between]"),
    (("team[is]", "empty"), "team[is]"),
    (("score[in]", ",".join(["1"] * 101)), "score[in]"),
    (("score", "99999999999"), "score"),
])
def test_bad_values(pair, parameter):
    assert fails(pair).details["parameter"] == parameter


def test_operator_errors():
    err = fails(("score[gtee]", "1"))
    assert err.hint == "Did you mean 'gte'?"
    err = fails(("active[gt]", "1"))
    assert err.hint == "Allowed: eq."


def test_unknown_parameters_have_did_you_mean():
    assert fails(("pagesize", "10")).hint == "Did you mean 'pageSize'?"
    assert fails(("scor", "1")).hint == "Did you mean 'score'?"
    assert "Known parameters" in (fails(("zzzzzz", "1")).hint or "")
    fails(("secret", "x"))  # sensitive fields do not exist for requests


def test_repeated_parameter_is_rejected():
    err = fails(("team", "red"), ("team", "blue"))
    assert err.hint == "Use team[in]=a,b for several values."
    # `active` allows only eq: suggesting active[in] would lead to a second 400.
    assert fails(("active", "true"), ("active", "false")).hint == "Give it once."
    assert fails(("limit", "1"), ("limit", "2")).hint == "Give it once."


def test_search_and_custom_filter():
    query = parse(("q", "  ann "), ("tagged", "x"))
    assert query.search == "ann"
    assert query.filters[0].custom == "tagged"
    fails(("q", "x" * 201))
    fails(("q", "   "))


QUERY_KEYS = st.sampled_from(["page", "pageSize", "cursor", "limit", "sort", "sortField",
                              "sortDirection", "q", "count", "name", "score[gte]", "team[in]",
                              "createdFrom", "createdTo", "active", "id[between]", "team[is]",
                              "tagged", "nope", "score[xx]"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(QUERY_KEYS | st.text(max_size=12), st.text(max_size=30)),
                max_size=6))
def test_fuzz_only_ever_parses_or_raises_invalid_parameter(pairs):
    try:
        query = parse_list_params(TABLE, pairs)
    except InvalidParameter as exc:
        body = exc.to_dict()
        assert set(body) == {"code", "message", "details", "hint"}
        assert "SELECT" not in body["message"]
    else:
        assert query.page_size is None or 1 <= query.page_size <= TABLE.max_page_size


def test_uuid_values_are_parsed():
    from pgkeel.repo import Field, FieldType, Table
    table = Table("s", "x", [Field("id", FieldType.UUID, filter=(Op.EQ,))], global_table=True)
    value = uuid.uuid4()
    assert parse_list_params(table, [("id", str(value))]).filters[0].value == value
    with pytest.raises(InvalidParameter, match="must be a UUID"):
        parse_list_params(table, [("id", "not-a-uuid")])
