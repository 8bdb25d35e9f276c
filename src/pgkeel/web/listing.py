"""The list grammar as a FastAPI dependency, with the parameters documented in OpenAPI.

    @router.get("/v1/users", openapi_extra=list_openapi(USERS))
    async def users(query: ListQuery = Depends(list_query(USERS))): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from pgkeel.repo import FieldType, ListQuery, Op, Table, parse_list_params
from pgkeel.repo.params import range_names

__all__ = ["list_openapi", "list_query"]

_SCHEMA: dict[FieldType, dict[str, Any]] = {
    FieldType.INT: {"type": "integer"}, FieldType.BIGINT: {"type": "integer"},
    FieldType.SMALLINT: {"type": "integer"}, FieldType.BOOL: {"type": "boolean"},
    FieldType.UUID: {"type": "string", "format": "uuid"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.TIMESTAMPTZ: {"type": "string", "format": "date-time"},
    FieldType.NUMERIC: {"type": "string"}, FieldType.FLOAT: {"type": "number"},
}


def list_query(table: Table) -> Callable[[Request], ListQuery]:
    """A dependency parsing the request's query string for `table` (400 on anything bad)."""

    def dependency(request: Request) -> ListQuery:
        return parse_list_params(table, request.query_params.multi_items())

    dependency.__name__ = f"list_{table.name}"
    return dependency


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def list_openapi(table: Table) -> dict[str, Any]:
    """`openapi_extra` documenting every parameter the grammar accepts for `table`."""
    text = {"type": "string"}
    params = [
        _param("page", {"type": "integer", "minimum": 1}, "Page number (offset paging)."),
        _param("pageSize", {"type": "integer", "minimum": 1, "maximum": table.max_page_size},
               f"Rows per page (default {table.page_size})."),
        _param("cursor", text, "Opaque cursor from nextCursor / prevCursor (keyset paging)."),
        _param("limit", {"type": "integer", "minimum": 1, "maximum": table.max_page_size},
               "Rows per keyset page."),
        _param("sortField", {"type": "string", "enum": sorted(table.sortable)}, "Sort field."),
        _param("sortDirection", {"type": "string", "enum": ["asc", "desc"]}, "Sort direction."),
        _param("sort", text, "Comma list of fields, '-' for descending, e.g. -createdAt,email."),
        _param("count", {"type": "string", "enum": ["exact", "planned", "estimated", "none"]},
               "How to compute total."),
    ]
    if table.searchable:
        params.append(_param("q", {"type": "string", "maxLength": 200},
                             "Search " + ", ".join(f.api_name for f in table.searchable)))
    for field in table.filterable.values():
        schema = _SCHEMA.get(field.type, text)
        if Op.EQ in field.filter:
            params.append(_param(field.api_name, schema, f"{field.api_name} equals."))
        for op in field.filter:
            if op is not Op.EQ:
                params.append(_param(f"{field.api_name}[{op.value}]", text,
                                     f"{field.api_name} {op.value} (lists: a,b)."))
        if Op.GTE in field.filter:
            low, high = range_names(field)
            params += [_param(low, schema, f"{field.api_name} >= value."),
                       _param(high, schema, f"{field.api_name} <= value.")]
    for custom in table.custom_filters.values():
        params.append(_param(custom.api_name, _SCHEMA.get(custom.type, text),
                             f"Filter by {custom.api_name}."))
    return {"parameters": params}
