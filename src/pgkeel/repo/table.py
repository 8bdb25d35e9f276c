"""A table declaration: the allowlist every repository call and list request is compiled from.

Nothing outside a `Table` can reach SQL: identifiers come from its fields, operators from each
field's allowlist, values are always bound parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg import sql

from pgkeel.errors import UsageError
from pgkeel.repo.fields import Field, FieldType, did_you_mean
from pgkeel.repo.query import CountMode

__all__ = ["CustomFilter", "Table"]


@dataclass(frozen=True)
class CustomFilter:
    """A filter that is not a column, such as `roleId` on users: a SQL predicate over the row
    (aliased `t`) with exactly one `%s` for the parsed value."""

    api_name: str
    type: FieldType
    predicate: LiteralString

    def __post_init__(self) -> None:
        if self.predicate.count("%s") != 1:
            raise ValueError(f"custom filter {self.api_name!r} needs exactly one %s")


class Table:
    """One table's columns and rules: tenant column, soft delete, version, sort and paging."""

    def __init__(
        self,
        schema: str,
        name: str,
        fields: Sequence[Field],
        *,
        primary_key: str | tuple[str, ...] = "id",
        tenant: str | None = None,
        global_table: bool = False,
        soft_delete: str | None = None,
        version: str | None = None,
        updated_at: str | None = None,
        default_sort: Sequence[str] = (),
        page_size: int = 20,
        max_page_size: int = 100,
        count: CountMode = CountMode.EXACT,
        count_threshold: int = 1000,
        custom_filters: Sequence[CustomFilter] = (),
        search_config: str = "simple",
    ) -> None:
        self.schema = schema
        self.name = name
        self.fields = tuple(fields)
        self.by_name = {f.name: f for f in self.fields}
        self.by_api = {f.api_name: f for f in self.fields}
        self.primary_key = (primary_key,) if isinstance(primary_key, str) else primary_key
        self.tenant = tenant
        self.soft_delete = soft_delete
        self.version = version
        self.updated_at = updated_at
        """Set to now() by every update, soft delete and restore."""
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.count = count
        self.count_threshold = count_threshold
        self.custom_filters = {c.api_name: c for c in custom_filters}
        self.search_config = search_config
        self._check(global_table)
        self.default_sort = tuple(default_sort) or tuple(self.primary_key)
        for key in self.default_sort:
            if key.lstrip("-") not in self.by_name:
                raise ValueError(f"{self.qualified}: default sort {key!r} is not a column")

        self.ident = sql.Identifier(schema, name)
        self.selectable = tuple(f for f in self.fields
                                if not f.sensitive and f.type is not FieldType.TSVECTOR)
        self.sortable = {f.api_name: f for f in self.fields if f.sort}
        self.filterable = {f.api_name: f for f in self.fields if f.filter}
        self.searchable = tuple(f for f in self.fields if f.search)
        self._api_names = {f.name: f.api_name for f in self.selectable}

    def in_schema(self, schema: str) -> Table:
        """The same declaration in another schema: a test's `pgkeel_schema` holding tables
        its migrations created there (unqualified names land in the set's schema)."""
        moved = copy.copy(self)
        moved.schema = schema
        moved.ident = sql.Identifier(schema, self.name)
        return moved

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def _check(self, global_table: bool) -> None:
        if self.tenant is None and not global_table:
            raise ValueError(f"{self.qualified}: declare tenant=... or global_table=True")
        if self.tenant is not None and global_table:
            raise ValueError(f"{self.qualified}: a global table has no tenant column")
        named = [self.tenant, self.soft_delete, self.version, self.updated_at,
                 *self.primary_key]
        for column in named:
            if column is not None and column not in self.by_name:
                raise ValueError(f"{self.qualified}: {column!r} is not a declared field")
        if len(self.by_api) != len(self.fields):
            raise ValueError(f"{self.qualified}: two fields share an API name")
        for api_name in self.custom_filters:
            if api_name in self.by_api:
                raise ValueError(f"{self.qualified}: custom filter {api_name!r} shadows a field")
        if not 1 <= self.page_size <= self.max_page_size:
            raise ValueError(f"{self.qualified}: need 1 <= page_size <= max_page_size")

    def field(self, name: str) -> Field:
        return self.by_name[name]

    def from_api(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """API (camelCase) names to column names, for `create` / `update`:
        `{"projectId": 1}` -> `{"project_id": 1}`. A column name is accepted as itself; an
        unknown name is a UsageError with the list grammar's "did you mean"."""
        by_api, by_name = self.by_api, self.by_name
        out: dict[str, Any] = {}
        for key, value in data.items():
            found = by_api.get(key) or by_name.get(key)
            if found is None:
                raise UsageError(f"{self.qualified} has no field {key!r}.",
                                 details={"field": key},
                                 hint=did_you_mean(key, by_api) or
                                 f"Known fields: {', '.join(sorted(by_api))}.")
            out[found.name] = value
        return out

    def to_api(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row keyed by API (camelCase) names, without sensitive columns."""
        names = self._api_names
        return {names[k]: v for k, v in row.items() if k in names}
