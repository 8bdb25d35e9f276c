"""JSON responses rendered with orjson."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """A JSONResponse rendered by orjson (faster, and handles UUID/datetime natively)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, default=str)
        except TypeError:
            # orjson refuses integers beyond 64 bits; the standard library writes them.
            return json.dumps(content, default=str,
                              separators=(",", ":")).encode()
