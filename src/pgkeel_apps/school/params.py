"""Query parameters of the dashboards and `find`: declared (OpenAPI), checked, and refused
with a 400 naming what is allowed -- like every list parameter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from fastapi import Request

from pgkeel.errors import InvalidParameter
from pgkeel.web import declares_errors, declares_parameters


@dataclass(frozen=True)
class Param:
    """One query parameter: an integer in [low, high], a boolean, a UUID, a choice, or JSON."""

    name: str
    kind: str  # "int" | "bool" | "uuid" | "json" | "choice" | "name"
    default: Any = None
    low: int = 1
    high: int = 100
    choices: tuple[str, ...] = ()
    description: str = ""

    def schema(self) -> dict[str, Any]:
        if self.kind == "int":
            return {"type": "integer", "minimum": self.low, "maximum": self.high,
                    "default": self.default}
        if self.kind == "bool":
            return {"type": "boolean", "default": self.default}
        if self.kind == "uuid":
            return {"type": "string", "format": "uuid"}
        if self.kind == "name":
            return {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$"}
        if self.kind == "choice":
            return {"type": "string", "enum": list(self.choices), "default": self.default}
        return {"type": "string", "description": "JSON"}

    def parse(self, text: str) -> Any:
        if self.kind == "int":
            if not text.isdigit() or not self.low <= int(text) <= self.high:
                raise self._bad(text, f"a whole number from {self.low} to {self.high}")
            return int(text)
        if self.kind == "bool":
            if text not in ("true", "false"):
                raise self._bad(text, "true or false")
            return text == "true"
        if self.kind == "uuid":
            try:
                return UUID(text)
            except ValueError:
                raise self._bad(text, "a UUID") from None
        if self.kind == "name":
            if not text.isidentifier() or len(text) > 63:
                raise self._bad(text[:100], "a column name")
            return text
        if self.kind == "choice":
            if text not in self.choices:
                raise self._bad(text, "one of " + ", ".join(self.choices))
            return text
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise self._bad(text[:100], "JSON") from None

    def _bad(self, text: str, wanted: str) -> InvalidParameter:
        return InvalidParameter(f"{self.name} must be {wanted}.",
                                details={"parameter": self.name, "value": text})


def query_params(*params: Param) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """A dependency returning {name: value} for `params` (defaults filled in); an unknown
    parameter, a repeated one or a bad value is a 400."""
    by_name = {p.name: p for p in params}

    @declares_errors(400)
    @declares_parameters([{"name": p.name, "in": "query", "required": False,
                           "schema": p.schema(), "description": p.description}
                          for p in params])
    async def dependency(request: Request) -> dict[str, Any]:
        values = {p.name: p.default for p in params}
        seen: set[str] = set()
        for name, text in request.query_params.multi_items():
            param = by_name.get(name)
            if param is None:
                raise InvalidParameter(f"Unknown parameter '{name}'.",
                                       details={"parameter": name,
                                                "allowed": sorted(by_name)})
            if name in seen:
                raise InvalidParameter(f"Parameter '{name}' is given twice.",
                                       details={"parameter": name})
            seen.add(name)
            values[name] = param.parse(text)
        return values

    return dependency
