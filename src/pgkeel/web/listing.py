"""The list grammar as a FastAPI dependency, its parameters generated into OpenAPI.

    @router.get("/v1/users")
    async def users(query: Annotated[ListQuery, Depends(list_query(USERS))]): ...

Every parameter the grammar accepts for the table -- paging, sort, search, each filter with its
operators and ranges -- is documented on the route with its type, enum and pattern (by
`pgkeel.web.contract`, which apps get through `install_error_handlers`), so a schema-valid
value is one the grammar accepts. What OpenAPI cannot say is in the descriptions: page/pageSize
and cursor/limit exclude each other, sort excludes sortField/sortDirection, a cursor is only
valid for the query that produced it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from pgkeel.repo import FieldType, ListQuery, Op, Table, parse_list_params
from pgkeel.repo.fields import Field
from pgkeel.repo.params import MAX_LIST_VALUES, MAX_PAGE, MAX_SEARCH_LENGTH, range_names
from pgkeel.web.contract import declares_errors, declares_parameters

__all__ = ["list_openapi", "list_parameters", "list_query"]

_UUID = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_BOOL = "(?:true|false)"
_INT = "-?[0-9]{1,18}"
_DATE = "[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
_NO_NUL = "^[^\\u0000]*$"
_TEXT = {"type": "string", "pattern": _NO_NUL}
_INT_RANGE = {FieldType.SMALLINT: 2**15, FieldType.INT: 2**31, FieldType.BIGINT: 2**63}

_SCHEMA: dict[FieldType, dict[str, Any]] = {
    FieldType.BOOL: {"type": "boolean"},
    FieldType.UUID: {"type": "string", "format": "uuid"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.TIMESTAMPTZ: {"type": "string", "format": "date-time"},
    FieldType.NUMERIC: {"type": "string", "pattern": "^-?[0-9]{1,30}(\\.[0-9]{1,30})?$"},
    FieldType.FLOAT: {"type": "number"},
}
# One element of a comma-separated list, as a regular expression.
_ELEMENT: dict[FieldType, str] = {
    FieldType.UUID: _UUID, FieldType.BOOL: _BOOL, FieldType.SMALLINT: "-?[0-9]{1,4}",
    FieldType.INT: "-?[0-9]{1,9}", FieldType.BIGINT: _INT,
    FieldType.DATE: _DATE, FieldType.TIMESTAMPTZ: _DATE, FieldType.NUMERIC: "-?[0-9]{1,30}",
    FieldType.FLOAT: "-?[0-9]{1,15}(?:\\.[0-9]{1,6})?",
}


def list_query(table: Table) -> Callable[[Request], Awaitable[ListQuery]]:
    """A dependency parsing the request's query string for `table` (400 on anything bad)."""

    async def dependency(request: Request) -> ListQuery:
        return parse_list_params(table, request.query_params.multi_items())

    dependency.__name__ = f"list_{table.name}"
    return declares_errors(400)(declares_parameters(list_parameters(table))(dependency))


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _value_schema(field_type: FieldType) -> dict[str, Any]:
    if field_type in _INT_RANGE:
        bound = _INT_RANGE[field_type]
        return {"type": "integer", "minimum": -bound, "maximum": bound - 1}
    return dict(_SCHEMA.get(field_type, _TEXT))


def _list_schema(field_type: FieldType, exactly: int | None = None) -> dict[str, Any]:
    element = _ELEMENT.get(field_type)
    if element is None:  # free text: anything but NUL; commas separate the values
        more = "{1}" if exactly == 2 else f"{{0,{MAX_LIST_VALUES - 1}}}"
        return {"type": "string", "minLength": 1,
                "pattern": f"^[^,\\u0000]*(,[^,\\u0000]*){more}$"}
    more = "{1}" if exactly == 2 else f"{{0,{MAX_LIST_VALUES - 1}}}"
    return {"type": "string", "pattern": f"^{element}(,{element}){more}$"}


def _operator_param(field: Field, op: Op) -> dict[str, Any]:
    name = f"{field.api_name}[{op.value}]"
    if op is Op.IS:
        return _param(name, {"type": "string", "enum": ["null", "notnull"]},
                      f"{field.api_name} is null / is not null.")
    if op in (Op.IN, Op.NOT_IN):
        return _param(name, _list_schema(field.type),
                      f"{field.api_name} {'in' if op is Op.IN else 'not in'} a comma list "
                      f"(1 to {MAX_LIST_VALUES} values).")
    if op is Op.BETWEEN:
        return _param(name, _list_schema(field.type, exactly=2),
                      f"{field.api_name} between two comma-separated values (inclusive).")
    if op in (Op.LIKE, Op.ILIKE):
        return _param(name, dict(_TEXT), f"{field.api_name} {op.value} pattern ('*' = any).")
    return _param(name, _value_schema(field.type), f"{field.api_name} {op.value} value.")


def list_parameters(table: Table) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for every query parameter the grammar accepts for `table`."""
    sortable = sorted(table.sortable)
    sort_item = "-?(?:" + "|".join(sortable) + ")"
    params = [
        _param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
               "Page number (offset paging; not with cursor/limit)."),
        _param("pageSize", {"type": "integer", "minimum": 1, "maximum": table.max_page_size},
               f"Rows per page (default {table.page_size}; not with cursor/limit)."),
        _param("cursor", {"type": "string", "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"},
               "Opaque cursor from nextCursor / prevCursor (keyset paging), valid only for "
               "the query that returned it."),
        _param("limit", {"type": "integer", "minimum": 1, "maximum": table.max_page_size},
               "Rows per keyset page (not with page/pageSize)."),
        _param("count", {"type": "string", "enum": ["exact", "planned", "estimated", "none"]},
               "How to compute total (page/pageSize paging only)."),
    ]
    if sortable:
        params += [
            _param("sortField", {"type": "string", "enum": sortable},
                   "Sort field (not with sort)."),
            _param("sortDirection", {"type": "string", "enum": ["asc", "desc"]},
                   "Sort direction (with sortField)."),
            _param("sort", {"type": "string", "pattern": f"^{sort_item}(,{sort_item})*$"},
                   "Comma list of distinct fields, '-' for descending, e.g. -createdAt,email "
                   "(not with sortField)."),
        ]
    if table.searchable:
        params.append(_param("q", {"type": "string", "minLength": 1,
                                   "maxLength": MAX_SEARCH_LENGTH,
                                   "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"},
                             "Search " + ", ".join(f.api_name for f in table.searchable)))
    for field in table.filterable.values():
        if Op.EQ in field.filter:
            params.append(_param(field.api_name, _value_schema(field.type),
                                 f"{field.api_name} equals."))
        params += [_operator_param(field, op) for op in field.filter]
        low, high = range_names(field)
        if Op.GTE in field.filter:
            params.append(_param(low, _value_schema(field.type),
                                 f"{field.api_name} >= value (a date: from its start)."))
        if Op.LTE in field.filter:
            params.append(_param(high, _value_schema(field.type),
                                 f"{field.api_name} <= value (a date: to its end)."))
    for custom in table.custom_filters.values():
        params.append(_param(custom.api_name, _value_schema(custom.type),
                             f"Filter by {custom.api_name}."))
    return params


def list_openapi(table: Table) -> dict[str, Any]:
    """`openapi_extra` with every list parameter (routes depending on `list_query` get them
    without it)."""
    return {"parameters": list_parameters(table)}
