"""Request-body building blocks: NUL and control characters refused, emails normalised, and
the same rules stated in the JSON schema."""

from __future__ import annotations

import re

import pytest
from pydantic import Field, ValidationError

from pgkeel.web import ApiModel, Email, Name, Secret, Text
from pgkeel.web.inputs import EMAIL_PATTERN

pytestmark = pytest.mark.smoke


class Thing(ApiModel):
    email: Email = Field(max_length=254)
    name: Name = Field(max_length=20)
    notes: Text | None = Field(None, max_length=100)
    secret: Secret | None = None
    tags: list[str] = Field(default_factory=list)


def fields_of(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in error["loc"]) for error in exc.errors()]


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "a\x00b"}, "name"), ({"email": "a\x00@b.com"}, "email"),
    ({"secret": "x\x00"}, "secret"), ({"tags": ["ok", "n\x00"]}, "tags"),
    ({"notes": "lone \ud800 surrogate"}, "notes"), ({"name": "tab\there"}, "name"),
    ({"name": "bidi \u202e"}, "name"), ({"notes": "esc \x1b[31m"}, "notes"),
    ({"name": "c1 \x85"}, "name"), ({"email": "user@host.local"}, "email"),
    ({"unknown": "x"}, "unknown"),
])
def test_refused_with_the_field_named(data, field):
    with pytest.raises(ValidationError) as caught:
        Thing(**{"email": "a@example.com", "name": "ok", **data})
    assert fields_of(caught.value) == [field]


def test_accepted_and_normalised():
    thing = Thing(email="Ann.Lee@Example.ORG", name="Zoë O'Neil",
                  notes="line one\nline two\ttabbed\r\n", secret="p@ss word")
    assert thing.email == "ann.lee@example.org"
    assert thing.notes == "line one\nline two\ttabbed\r\n"


def test_the_json_schema_states_the_rules():
    props = Thing.model_json_schema()["properties"]
    assert props["email"]["format"] == "email" and props["email"]["maxLength"] == 254
    assert props["name"]["maxLength"] == 20
    name = re.compile(props["name"]["pattern"])
    assert name.search("Zoë") and not name.search("a\x07") and not name.search("a\u202e")
    assert re.search(props["notes"]["anyOf"][0]["pattern"], "a\nb")
    email = re.compile(EMAIL_PATTERN)
    assert email.search("o'neil+tag@sub.example.com")
    assert not email.search("a@b.test") and not email.search("a..b@c.com")
