"""A NUL character in every string field of every write route answers 422 naming the field.

The routes and fields come from the service's own OpenAPI, so a route or field added later is
covered without touching this test. Each request is otherwise valid (required fields filled
from the schema), so the NUL is the only thing wrong with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from tests.pgkeel_apps.conftest import Api

WRITES = ("post", "put", "patch", "delete")


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return resolve(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    return schema


def string_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The string alternative of a property (`str`, `str | None`), if it has one."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            return option
    return None


def sample(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A valid value for a property schema."""
    schema = resolve(schema, components)
    if "anyOf" in schema:
        return sample(next(o for o in schema["anyOf"] if o.get("type") != "null"), components)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("examples"):
        return schema["examples"][0]
    kind = schema.get("type")
    if kind == "string":
        return {"email": f"nul-{uuid.uuid4().hex[:8]}@example.com",
                "uuid": str(uuid.uuid4()), "date": "2026-01-05",
                "date-time": "2026-01-05T10:00:00Z"}.get(schema.get("format", ""), "plain")
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    raise AssertionError(f"no sample for {schema}")


def with_nul(value: str) -> str:
    return value[:1] + "\x00" + value[1:]


def cases(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """(method, path, body, field) for every string field of every write route's body."""
    components = openapi["components"]["schemas"]
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if method not in WRITES or "requestBody" not in operation:
                continue
            body_schema = resolve(
                operation["requestBody"]["content"]["application/json"]["schema"], components)
            properties = body_schema["properties"]
            base = {name: sample(properties[name], components)
                    for name in body_schema.get("required", [])}
            for name, prop in properties.items():
                text = string_schema(resolve(prop, components))
                if text is not None:
                    value = with_nul(str(sample(text, components)))
                    yield method, path, {**base, name: value}, name
                elif resolve(prop, components).get("type") == "array":
                    item = resolve(resolve(prop, components)["items"], components)
                    if item.get("type") == "object":   # a list of records: each text field
                        yield from _record_cases(method, path, base, name, item, components)
                        continue
                    value = with_nul(str(sample(item, components)))
                    yield method, path, {**base, name: [value]}, name


def _record_cases(method: str, path: str, base: dict[str, Any], name: str,
                  item: dict[str, Any], components: dict[str, Any]
                  ) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """A NUL in each string field of the first record of a list: the problem is reported
    on the list's field."""
    record = {key: sample(item["properties"][key], components)
              for key in item.get("required", [])}
    for key, prop in item["properties"].items():
        text = string_schema(resolve(prop, components))
        if text is not None:
            value = with_nul(str(sample(text, components)))
            yield method, path, {**base, name: [{**record, key: value}]}, name


def _has_text(operation: dict[str, Any], openapi: dict[str, Any]) -> bool:
    """Whether a write route's body has a string (or array) field: a body of numbers and
    booleans only (a quantity, a moderation flag) has nowhere to put a NUL."""
    components = openapi["components"]["schemas"]
    body = resolve(operation["requestBody"]["content"]["application/json"]["schema"],
                   components)
    return any(string_schema(resolve(prop, components)) is not None
               or resolve(prop, components).get("type") == "array"
               for prop in body["properties"].values())


async def test_a_nul_in_any_string_field_of_any_write_route_is_a_422(api: Api):
    admin = await api.as_("org-1")
    openapi = api.app.openapi()
    tried: set[tuple[str, str]] = set()
    for method, path, body, field in cases(openapi):
        url = path
        examples = {p["name"]: p["schema"].get("examples", p.get("examples", [None]))[0]
                    for p in openapi["paths"][path][method].get("parameters", [])
                    if p["in"] == "path"}
        for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
            # A dealer is an organization named by its slug: a real one, so the route gets
            # as far as the body (an unknown dealer is a 404 before the body is read).
            value = "org-1" if name == "dealer" else examples.get(name) or str(uuid.uuid4())
            url = url.replace(f"{{{name}}}", str(value))
        # A fresh Idempotency-Key: routes that require one get an otherwise valid request too.
        headers = {**admin, "Idempotency-Key": str(uuid.uuid4())}
        response = await api.client.request(method.upper(), url, json=body, headers=headers)
        assert response.status_code == 422, (method, path, field, response.text)
        payload = response.json()
        assert payload["code"] == "validation_failed"
        assert [p["field"] for p in payload["details"]["problems"]] == [field], (
            method, path, payload)
        tried.add((method, path))
    bodies = {(m, p) for p, ops in openapi["paths"].items() for m, op in ops.items()
              if m in WRITES and "requestBody" in op and _has_text(op, openapi)}
    assert tried == bodies  # every write route with a string field in its body was tried
    assert ("post", "/v1/auth/login") in tried and ("post", "/v1/users") in tried
