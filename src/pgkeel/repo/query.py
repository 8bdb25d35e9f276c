"""A parsed list request: filters, search, sort, paging and the count policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pgkeel.repo.fields import Field, Op

__all__ = ["CountMode", "Filter", "ListQuery", "SortKey"]


class CountMode(StrEnum):
    """How the offset envelope's `total` is computed (PostgREST's three, plus none)."""

    EXACT = "exact"          # count(*) with the same filters
    PLANNED = "planned"      # the planner's row estimate (EXPLAIN): instant, approximate
    ESTIMATED = "estimated"  # exact up to the table's threshold, planned beyond it
    NONE = "none"


@dataclass(frozen=True)
class Filter:
    """`field op value`; `value` is already parsed (a list for IN / BETWEEN)."""

    field: Field | None
    op: Op
    value: Any
    custom: str | None = None
    """Set (to the API name) for a CustomFilter instead of a column."""


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool = False

    def token(self) -> str:
        return ("-" if self.descending else "") + self.field.api_name


@dataclass
class ListQuery:
    """What to list. Built by `parse_list_params` from HTTP, or directly from Python."""

    filters: list[Filter] = field(default_factory=list)
    search: str | None = None
    sort: list[SortKey] = field(default_factory=list)
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None
    limit: int | None = None
    count: CountMode | None = None

    @property
    def keyset(self) -> bool:
        """Keyset (cursor) paging rather than offset paging."""
        return self.cursor is not None or self.limit is not None
