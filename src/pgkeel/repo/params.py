"""The HTTP list grammar: query-string parameters -> `ListQuery`, or a 400 that says why.

    page=2&pageSize=20                 offset paging          cursor=...&limit=20   keyset paging
    sortField=email&sortDirection=asc  or  sort=-createdAt,email
    isActive=true                      equality               price[gte]=10         operator
    status[in]=a,b                     lists                  createdFrom / createdTo   ranges
    q=ann                              search                 count=exact|planned|estimated|none

Reject, don't guess: an unknown parameter, field or operator, a malformed value, or a page
size above the maximum is a 400 with a did-you-mean hint. Nothing is silently dropped or
clamped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from pgkeel.errors import InvalidParameter
from pgkeel.repo.compiler import escape_like
from pgkeel.repo.fields import Field, FieldType, Op, parse_value
from pgkeel.repo.fields import did_you_mean as _did_you_mean
from pgkeel.repo.query import CountMode, Filter, ListQuery, SortKey
from pgkeel.repo.table import Table

__all__ = ["MAX_OFFSET", "RESERVED", "check_offset", "effective_sort", "parse_list_params",
           "range_names"]

RESERVED = ("page", "pageSize", "cursor", "limit", "sortField", "sortDirection", "sort", "q",
            "count")
MAX_LIST_VALUES = 100
MAX_SEARCH_LENGTH = 200
MAX_PAGE = 10_000_000
MAX_OFFSET = 10_000
"""Rows an offset page may skip: PostgreSQL reads and discards every skipped row, so deep
offsets cost time in proportion to the offset. Past it, keyset paging (cursor/limit)."""

_OPERATOR_PARAM = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_]*)\[(?P<op>[a-z]+)\]$")


def _fail(message: str, parameter: str, hint: str | None = None,
          **details: Any) -> InvalidParameter:
    return InvalidParameter(message, details={"parameter": parameter, **details}, hint=hint)


def _positive_int(name: str, text: str, maximum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _fail(f"{name} must be a whole number.", name, value=text) from None
    if not 1 <= value <= maximum:
        raise _fail(f"{name} must be between 1 and {maximum}.", name,
                    hint=f"Use at most {maximum}." if value > maximum else None,
                    value=text, maximum=maximum)
    return value


def check_offset(page: int, page_size: int) -> int:
    """The OFFSET of `page`; InvalidParameter (400) past MAX_OFFSET, pointing to keyset paging."""
    offset = (page - 1) * page_size
    if offset > MAX_OFFSET:
        raise _fail(f"page {page} with pageSize {page_size} skips {offset} rows; offset paging "
                    f"stops at {MAX_OFFSET}.", "page",
                    hint="Use cursor/limit (keyset paging) to read further: pass limit, then "
                         "each response's next cursor.",
                    offset=offset, max_offset=MAX_OFFSET)
    return offset


def _parse(field: Field, parameter: str, text: str) -> Any:
    try:
        return parse_value(field.type, text)
    except ValueError as exc:
        raise _fail(f"{parameter} must be {exc}.", parameter, value=text) from None


def _filter(field: Field, op: Op, parameter: str, text: str) -> Filter:
    if op not in field.filter:
        allowed = [o.value for o in field.filter]
        raise _fail(f"Operator '{op.value}' is not allowed on {field.api_name}.", parameter,
                    hint=f"Allowed: {', '.join(allowed)}.", allowed=allowed)
    if op is Op.IS:
        if text not in ("null", "notnull"):
            raise _fail(f"{parameter} must be null or notnull.", parameter, value=text)
        return Filter(field, op, text == "null")
    if op in (Op.IN, Op.NOT_IN, Op.BETWEEN):
        parts = text.split(",")
        if op is Op.BETWEEN and len(parts) != 2:
            raise _fail(f"{parameter} takes two comma-separated values.", parameter, value=text)
        if not text or len(parts) > MAX_LIST_VALUES:
            raise _fail(f"{parameter} takes 1 to {MAX_LIST_VALUES} comma-separated values.",
                        parameter)
        return Filter(field, op, [_parse(field, parameter, part) for part in parts])
    if op in (Op.LIKE, Op.ILIKE):
        # The user's % and _ match literally; * is the one wildcard (any run of characters).
        return Filter(field, op, escape_like(_parse(field, parameter, text)).replace("*", "%"))
    return Filter(field, op, _parse(field, parameter, text))


def range_names(field: Field) -> tuple[str, str]:
    """`createdAt` -> (`createdFrom`, `createdTo`); `score` -> (`scoreFrom`, `scoreTo`)."""
    base = field.api_name.removesuffix("At") if field.api_name.endswith("At") else field.api_name
    return f"{base}From", f"{base}To"


def _range(table: Table, name: str, text: str) -> Filter | None:
    """`<field>From` / `<field>To`: inclusive bounds; a bare date `To` covers that whole day."""
    for field in table.filterable.values():
        low, high = range_names(field)
        if name not in (low, high):
            continue
        op = Op.GTE if name == low else Op.LTE
        if op not in field.filter:
            return None
        value = _parse(field, name, text)
        if (op is Op.LTE and field.type is FieldType.TIMESTAMPTZ
                and type(value) is dt.date):
            return Filter(field, Op.LT, value + dt.timedelta(days=1))
        return Filter(field, op, value)
    return None


def _sort(table: Table, params: dict[str, str]) -> list[SortKey]:
    if "sort" in params and ("sortField" in params or "sortDirection" in params):
        raise _fail("Use either sort or sortField/sortDirection, not both.", "sort")
    tokens: list[str]
    if "sort" in params:
        tokens = [t.strip() for t in params["sort"].split(",")]
        if not all(tokens):
            raise _fail("sort must be a comma-separated list of fields.", "sort")
    elif "sortField" in params:
        direction = params.get("sortDirection", "asc")
        if direction not in ("asc", "desc"):
            raise _fail("sortDirection must be asc or desc.", "sortDirection", value=direction)
        tokens = [("-" if direction == "desc" else "") + params["sortField"]]
    elif "sortDirection" in params:
        raise _fail("sortDirection needs sortField.", "sortDirection")
    else:
        return []
    keys: list[SortKey] = []
    for token in tokens:
        name = token.removeprefix("-")
        if name not in table.sortable:
            parameter = "sort" if "sort" in params else "sortField"
            raise _fail(f"Cannot sort by '{name}'.", parameter,
                        hint=_did_you_mean(name, table.sortable) or
                        f"Sortable: {', '.join(sorted(table.sortable))}.",
                        allowed=sorted(table.sortable))
        keys.append(SortKey(table.sortable[name], descending=token.startswith("-")))
    if len({k.field.name for k in keys}) != len(keys):
        raise _fail("A field appears twice in the sort.", "sort")
    return keys


def effective_sort(table: Table, requested: list[SortKey]) -> list[SortKey]:
    """The requested (else default) sort, made total by appending the primary key."""
    keys = list(requested) or [SortKey(table.field(t.lstrip("-")), t.startswith("-"))
                               for t in table.default_sort]
    named = {k.field.name for k in keys}
    last_desc = keys[-1].descending if keys else False
    keys += [SortKey(table.field(c), last_desc) for c in table.primary_key if c not in named]
    return keys


def parse_list_params(table: Table, items: Iterable[tuple[str, str]]) -> ListQuery:
    """Parse query-string pairs (repeats preserved) into a `ListQuery` for `table`."""
    params: dict[str, str] = {}
    for name, value in items:
        if name in params:
            raise _fail(f"Parameter '{name}' is given more than once.", name,
                        hint=_repeat_hint(table, name))
        params[name] = value

    query = ListQuery()
    _paging(table, params, query)
    if "q" in params:
        if not table.searchable:
            raise _fail("This resource does not support search.", "q")
        text = params["q"].strip()
        if not 1 <= len(text) <= MAX_SEARCH_LENGTH or "\x00" in text:
            raise _fail(f"q must be 1 to {MAX_SEARCH_LENGTH} characters.", "q")
        query.search = text
    query.sort = _sort(table, params)

    for name, text in params.items():
        if name in RESERVED:
            continue
        query.filters.append(_filter_param(table, name, text))
    return query


def _repeat_hint(table: Table, name: str) -> str:
    """For a repeated parameter: `name[in]=a,b` where the field allows it, else give it once."""
    field = table.filterable.get(name)
    if field is not None and Op.IN in field.filter:
        return f"Use {name}[in]=a,b for several values."
    return "Give it once."


def _paging(table: Table, params: dict[str, str], query: ListQuery) -> None:
    keyset = "cursor" in params or "limit" in params
    if keyset and ("page" in params or "pageSize" in params):
        raise _fail("Use either page/pageSize or cursor/limit, not both.", "cursor")
    if "page" in params:
        query.page = _positive_int("page", params["page"], MAX_PAGE)
    if "pageSize" in params:
        query.page_size = _positive_int("pageSize", params["pageSize"], table.max_page_size)
    if "limit" in params:
        query.limit = _positive_int("limit", params["limit"], table.max_page_size)
    if "cursor" in params:
        if not params["cursor"]:
            raise _fail("cursor is empty.", "cursor")
        query.cursor = params["cursor"]
    if "count" in params:
        if keyset:
            raise _fail("count applies to page/pageSize paging only.", "count")
        try:
            query.count = CountMode(params["count"])
        except ValueError:
            raise _fail("count must be exact, planned, estimated or none.", "count",
                        value=params["count"]) from None


def _filter_param(table: Table, name: str, text: str) -> Filter:
    match = _OPERATOR_PARAM.match(name)
    field_name = match.group("field") if match else name
    if field_name in table.custom_filters and not match:
        custom = table.custom_filters[field_name]
        try:
            value = parse_value(custom.type, text)
        except ValueError as exc:
            raise _fail(f"{name} must be {exc}.", name, value=text) from None
        return Filter(None, Op.EQ, value, custom=custom.api_name)
    field = table.filterable.get(field_name)
    if field is not None:
        if match is None:
            return _filter(field, Op.EQ, name, text)
        try:
            op = Op(match.group("op"))
        except ValueError:
            allowed = [o.value for o in field.filter]
            raise _fail(f"Unknown operator '{match.group('op')}'.", name,
                        hint=_did_you_mean(match.group("op"), allowed) or
                        f"Allowed on {field.api_name}: {', '.join(allowed)}.",
                        allowed=allowed) from None
        return _filter(field, op, name, text)
    if match is None:
        ranged = _range(table, name, text)
        if ranged is not None:
            return ranged
    known = [*RESERVED, *table.filterable, *table.custom_filters,
             *(name for f in table.filterable.values() if Op.GTE in f.filter
               for name in range_names(f))]
    raise _fail(f"Unknown parameter '{name}'.", name,
                hint=_did_you_mean(field_name, known) or
                f"Known parameters: {', '.join(sorted(known))}.")
