"""Declared columns: their PostgreSQL type, API name, and what a request may do with them.

A `Field` is the allowlist for one column: which filter operators it accepts, whether it can be
sorted or searched, whether it is sensitive (never selected by default). Values arriving as
text (query strings) are parsed here, per type, into Python values that psycopg binds.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

__all__ = ["FieldType", "Op", "Search", "Field", "camel", "did_you_mean", "parse_value"]


class FieldType(StrEnum):
    """The PostgreSQL types a declared column may have (checked against the catalog)."""

    UUID = "uuid"
    TEXT = "text"
    INT = "integer"
    BIGINT = "bigint"
    SMALLINT = "smallint"
    BOOL = "boolean"
    NUMERIC = "numeric"
    FLOAT = "double precision"
    DATE = "date"
    TIMESTAMPTZ = "timestamp with time zone"
    JSONB = "jsonb"
    TEXT_ARRAY = "text[]"
    BYTEA = "bytea"
    TSVECTOR = "tsvector"
    """A (generated) full-text document: matched by `q` as it is (`Search.FTS`), so its
    weights and GIN index apply; never selected, filtered or sorted."""


class Op(StrEnum):
    """Filter operators, as they appear in `field[op]=value`."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    NOT_IN = "nin"
    LIKE = "like"
    ILIKE = "ilike"
    IS = "is"           # is=null | is=notnull
    BETWEEN = "between"  # between=a,b (inclusive)


class Search(StrEnum):
    """How `q` matches a searchable field."""

    ILIKE = "ilike"    # substring, case-insensitive (use a pg_trgm GIN index)
    PREFIX = "prefix"  # starts with, case-insensitive
    FTS = "fts"        # full text: to_tsvector('simple', col) @@ websearch_to_tsquery


COMPARABLE = (Op.EQ, Op.NE, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.IN, Op.NOT_IN, Op.BETWEEN)
TEXTUAL = (Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.LIKE, Op.ILIKE)

_CAMEL_BOUNDARY = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """snake_case column name -> camelCase API name."""
    return _CAMEL_BOUNDARY.sub(lambda m: m.group(1).upper(), name)


@dataclass(frozen=True)
class Field:
    """One declared column."""

    name: str
    type: FieldType
    filter: tuple[Op, ...] = ()
    """Operators a request may use on this field (empty: not filterable)."""
    sort: bool = False
    search: Search | None = None
    sensitive: bool = False
    """Never selected, filtered, sorted or searched unless asked for by name in code."""
    nullable: bool = True
    writable: bool = True
    """False for columns the database fills (ids, timestamps, version)."""
    api_name: str = ""

    def __post_init__(self) -> None:
        if not self.api_name:
            object.__setattr__(self, "api_name", camel(self.name))
        if self.type is FieldType.TSVECTOR and (self.filter or self.sort or (
                self.search not in (None, Search.FTS))):
            raise ValueError(f"tsvector field {self.name!r} can only be searched (Search.FTS)")
        if self.sensitive and (self.filter or self.sort or self.search):
            raise ValueError(f"sensitive field {self.name!r} cannot be filterable, "
                             "sortable or searchable")


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT_RANGE = {
    FieldType.SMALLINT: (-(2**15), 2**15 - 1),
    FieldType.INT: (-(2**31), 2**31 - 1),
    FieldType.BIGINT: (-(2**63), 2**63 - 1),
}


def _integer(field_type: FieldType) -> Callable[[str], int]:
    low, high = _INT_RANGE[field_type]

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise ValueError("an integer") from None
        if not low <= number <= high:
            raise ValueError(f"an integer between {low} and {high}")
        return number
    return parse


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError("a UUID") from None


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ValueError("true or false")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("a number") from None
    if not value.is_finite():
        raise ValueError("a finite number")
    return value


def _float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError("a number") from None
    if not math.isfinite(number):
        raise ValueError("a finite number")
    return number


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("a date (YYYY-MM-DD)") from None


def _text(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text without NUL characters")
    return text


def parse_value(field_type: FieldType, text: str) -> Any:
    """Parse one query-string value for a column type; ValueError says what was expected."""
    parser = _PARSERS.get(field_type)
    if parser is None:
        raise ValueError(f"a value this field cannot be filtered by ({field_type})")
    return parser(text)


def _parse_timestamp(text: str) -> dt.datetime | dt.date:
    """ISO 8601; a bare date stays a date so ranges can treat it as a whole day."""
    if len(text) == 10:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("an ISO 8601 date or timestamp") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


_PARSERS: dict[FieldType, Callable[[str], Any]] = {
    FieldType.SMALLINT: _integer(FieldType.SMALLINT),
    FieldType.INT: _integer(FieldType.INT),
    FieldType.BIGINT: _integer(FieldType.BIGINT),
    FieldType.UUID: _uuid,
    FieldType.BOOL: _bool,
    FieldType.NUMERIC: _decimal,
    FieldType.FLOAT: _float,
    FieldType.DATE: _date,
    FieldType.TIMESTAMPTZ: _parse_timestamp,
    FieldType.TEXT: _text,
    FieldType.TEXT_ARRAY: _text,
}


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """"Did you mean 'x'?" for the closest candidate, or None (the list grammar's hint)."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"Did you mean '{match[0]}'?" if match else None
