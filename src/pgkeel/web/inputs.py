"""Request bodies: a strict base model and constrained string types.

    class UserCreate(ApiModel):                      # unknown fields: 422
        email: Email                                 # validated + normalised (email-validator)
        displayName: Name = Field(max_length=200)    # one line, no control characters
        notes: Text | None = Field(None, max_length=2000)   # free text: tabs and newlines ok

A NUL character anywhere in an `ApiModel` body (any field, any depth) is a 422 that names the
field -- PostgreSQL cannot store it, and it never reaches the driver. So are lone surrogates,
which cannot be encoded. The constrained types state their pattern in OpenAPI as well, so a
schema-valid value is one the API accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["ApiModel", "Email", "Name", "Secret", "Text", "refuse_controls", "refuse_nul"]

# C0 and C1 controls, DEL, line/paragraph separators, bidirectional overrides and isolates
# (they make text display differently from what it is), and lone surrogates.
_INVISIBLE = "\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff"
_LINE_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f" + _INVISIBLE
_TEXT_CONTROLS = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f" + _INVISIBLE
_LINE = re.compile(f"[{_LINE_CONTROLS}]")
_TEXT = re.compile(f"[{_TEXT_CONTROLS}]")
_UNSTORABLE = re.compile("[\\u0000\\ud800-\\udfff]")
# OpenAPI (ECMA-262) patterns; surrogates are left out: JSON text cannot carry them validly.
LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$"
TEXT_PATTERN = ("^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"
                "\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$")
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_ANY_CASE = "|".join("".join(f"[{c}{c.upper()}]" for c in name) for name in _SPECIAL_USE)
EMAIL_PATTERN = (f"^{_ATEXT}(?:\\.?{_ATEXT}){{0,31}}@"
                 "(?:[A-Za-z0-9]{1,20}(?:-[A-Za-z0-9]{1,20})?\\.){1,4}"
                 f"(?!(?:{_ANY_CASE})$)[A-Za-z]{{2,24}}$")
"""A conservative subset of what email-validator accepts (ASCII, no quoting, no special-use
domain), stated in OpenAPI so that generated examples are addresses the API takes."""
SECRET_PATTERN = "^[^\\u0000]*$"  # noqa: S105 (a pattern, not a password)


def _describe(char: str) -> str:
    if char == "\x00":
        return "a NUL character"
    kind = "lone surrogate" if "\ud800" <= char <= "\udfff" else "control character"
    return f"the {kind} U+{ord(char):04X}"


def refuse_nul(value: str) -> str:
    """`value`, unless it holds a NUL or a lone surrogate (which no database column stores)."""
    found = _UNSTORABLE.search(value)
    if found:
        raise ValueError(f"must not contain {_describe(found.group())}")
    return value


def refuse_controls(value: str, *, multiline: bool = False) -> str:
    """`value`, unless it holds a control character (tabs and newlines allowed if
    `multiline`)."""
    found = (_TEXT if multiline else _LINE).search(value)
    if found:
        raise ValueError(f"must not contain {_describe(found.group())}")
    return value


@dataclass(frozen=True)
class _Pattern:
    """Adds `pattern` to a type's JSON schema (validation is the type's own validator)."""

    pattern: str

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _text(value: str) -> str:
    return refuse_controls(value, multiline=True)


def _lower(value: str) -> str:
    return value.lower()


Name = Annotated[str, AfterValidator(refuse_controls), _Pattern(LINE_PATTERN)]
"""One line of text (a name, a title): no control or bidirectional-override characters."""

Text = Annotated[str, AfterValidator(_text), _Pattern(TEXT_PATTERN)]
"""Free text: tabs and line breaks allowed, no other control characters."""

Secret = Annotated[str, AfterValidator(refuse_nul), _Pattern(SECRET_PATTERN)]
"""A password or token: taken as given, except a NUL."""

Email = Annotated[EmailStr, AfterValidator(_lower), _Pattern(EMAIL_PATTERN)]
"""An email address, checked by email-validator (syntax only, no DNS), then lower-cased."""


def _nul_in(value: Any) -> str | None:
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        return _describe(found.group()) if found else None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        for item in value:
            problem = _nul_in(item)
            if problem:
                return problem
    return None


class ApiModel(BaseModel):
    """A request body: unknown fields refused, and no NUL in any string."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        problem = _nul_in(value)
        if problem:
            raise ValueError(f"must not contain {problem}")
        return value
