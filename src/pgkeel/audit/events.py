"""Audit events: a stored row (`AuditEvent`) and one being written (`PreparedEvent`).

Values are turned into JSON once, when the event is prepared, so what is logged is what the
caller passed at that moment (a dict mutated afterwards does not change the log), and the
changed fields are computed on exactly the JSON that is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from uuid import UUID

import orjson

from pgkeel.db.context import DbContext
from pgkeel.errors import AuditEventInvalid

__all__ = [
    "DEFAULT_REDACTED",
    "FROM_CONTEXT",
    "PLATFORM_ORG",
    "AuditEvent",
    "PreparedEvent",
    "changed_fields",
    "prepare",
    "to_json",
]


class _FromContext(Enum):
    """Take this value from the transaction's (or the current) `DbContext`."""

    token = 0


FROM_CONTEXT: Final = _FromContext.token

DEFAULT_REDACTED: frozenset[str] = frozenset({
    "password", "password_hash", "passwordHash", "token", "token_hash", "tokenHash",
    "access_token", "accessToken", "refresh_token", "refreshToken", "secret", "api_key",
    "apiKey",
})
"""Top-level keys whose values are stored as "[redacted]" (their change is still listed)."""

PLATFORM_ORG: Final = "00000000-0000-0000-0000-000000000000"
"""How `audit.audit_log` stores the organization of a platform event (one written with
`org_id=None`): the nil UUID, since the column is NOT NULL (it leads the primary key).
Every reader gives it back as None, and the hash chain hashes it as NULL."""

REDACTED = "[redacted]"
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One row of `audit.audit_log`."""

    organization_id: str | None
    actor_id: str | None
    action: str
    entity_type: str
    entity_id: str | None
    old_values: Any
    new_values: Any
    changed_fields: list[str] | None
    metadata: Any
    request_id: str | None
    created_at: datetime
    event_id: UUID
    """The row's UUIDv7: the id to show an organization."""
    id: int | None = None
    """The platform-wide row number, for operators (None when read through an
    organization's list, which never selects it)."""
    txid: int | None = None
    """The writing transaction's id (trigger rows), for operators; None likewise."""

    def __post_init__(self) -> None:
        if self.organization_id == PLATFORM_ORG:  # a platform event
            object.__setattr__(self, "organization_id", None)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuditEvent:
        return cls(**{name: row[name] for name in cls.__slots__ if name in row})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (created_at as ISO 8601)."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["created_at"] = self.created_at.isoformat()
        data["event_id"] = str(self.event_id)
        return data


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event ready to be written: ids as text, values as JSON text."""

    organization_id: str | None
    actor_id: str | None
    action: str
    entity_type: str
    entity_id: str | None
    old_json: str | None
    new_json: str | None
    changed: list[str] | None
    metadata_json: str | None
    request_id: str | None
    created_at: datetime | None = None

    def insert_params(self) -> tuple[Any, ...]:
        """Parameters for `record`'s INSERT (created_at is the transaction's start)."""
        return (self.organization_id, self.actor_id, self.action, self.entity_type,
                self.entity_id, self.old_json, self.new_json, self.changed,
                self.metadata_json, self.request_id)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def to_json(value: Any) -> str | None:
    """JSON text for a jsonb column (None stays NULL). Decimals become strings, so no
    precision is lost; unknown types use str()."""
    if value is None:
        return None
    try:
        text = orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise AuditEventInvalid(f"The value cannot be stored as JSON: {exc}") from None
    if "\\u0000" in text:
        raise AuditEventInvalid("JSON values cannot contain the NUL character (\\u0000).",
                                hint="PostgreSQL's jsonb rejects it; strip it first.")
    return text


def changed_fields(old: Any, new: Any) -> list[str] | None:
    """Top-level keys whose values differ (sorted); every key for a create or delete; None
    when neither side is a JSON object."""
    old_map = old if isinstance(old, dict) else None
    new_map = new if isinstance(new, dict) else None
    if old_map is None and new_map is None:
        return None
    if old_map is None or new_map is None:
        return sorted(str(key) for key in (new_map or old_map or {}))
    keys = set(old_map) | set(new_map)
    return sorted(str(key) for key in keys
                  if key not in old_map or key not in new_map or old_map[key] != new_map[key])


def _stored(value: Any, hidden: frozenset[str]) -> tuple[str | None, Any]:
    """(JSON text to store, the value as jsonb will give it back -- unredacted)."""
    text = to_json(value)
    if text is None:
        return None, None
    ready = orjson.loads(text)
    if isinstance(ready, dict) and hidden and not hidden.isdisjoint(ready):
        text = to_json({k: (REDACTED if k in hidden else v) for k, v in ready.items()})
    return text, ready


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if "\x00" in text:
        raise AuditEventInvalid(f"{what} cannot contain the NUL character.")
    return text or None


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AuditEventInvalid(f"{what} must be a non-empty string.")
    if len(value) > _MAX_NAME or "\x00" in value:
        raise AuditEventInvalid(f"{what} must be at most {_MAX_NAME} characters, without NUL.")
    return value


def _with_client_id(metadata: Any, context: DbContext, request_id: Any) -> Any:
    """`metadata` plus the client's own X-Request-ID (`client_request_id`), when the event
    takes its request id from the context and the metadata is an object (or absent)."""
    client_id = context.client_request_id
    if not client_id or request_id is not FROM_CONTEXT:
        return metadata
    if metadata is None:
        return {"client_request_id": client_id}
    if isinstance(metadata, Mapping) and "client_request_id" not in metadata:
        return {**metadata, "client_request_id": client_id}
    return metadata


def prepare(
    *,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    old: Any = None,
    new: Any = None,
    metadata: Any = None,
    org_id: Any = FROM_CONTEXT,
    actor_id: Any = FROM_CONTEXT,
    request_id: Any = FROM_CONTEXT,
    changed: Iterable[str] | None = None,
    redact: Iterable[str] = DEFAULT_REDACTED,
    context: DbContext,
    created_at: datetime | None = None,
) -> PreparedEvent:
    """Validate and serialize one event; org / actor / request id default to `context`."""
    hidden = frozenset(redact)
    old_json, old_ready = _stored(old, hidden)
    new_json, new_ready = _stored(new, hidden)
    fields = sorted(changed) if changed is not None else changed_fields(old_ready, new_ready)
    organization = _text(context.org_id if org_id is FROM_CONTEXT else org_id,
                         "organization id")
    if organization == PLATFORM_ORG:
        raise AuditEventInvalid(f"The organization id {PLATFORM_ORG} is reserved for "
                                "platform events.",
                                hint="Pass org_id=None to record a platform event.")
    return PreparedEvent(
        organization_id=organization,
        actor_id=_text(context.actor_id if actor_id is FROM_CONTEXT else actor_id, "actor id"),
        action=_name(action, "action"),
        entity_type=_name(entity_type, "entity_type"),
        entity_id=_text(entity_id, "entity_id"),
        old_json=old_json,
        new_json=new_json,
        changed=fields,
        metadata_json=to_json(_with_client_id(metadata, context, request_id)),
        request_id=_text(context.request_id if request_id is FROM_CONTEXT else request_id,
                         "request id"),
        created_at=created_at,
    )

