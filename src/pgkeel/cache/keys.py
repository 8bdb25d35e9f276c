"""Cache keys: `pgkeel:{org}:{resource}:{id}:{action}`, built injectively.

Each part is percent-encoded (everything but `[A-Za-z0-9_.-]`, `%` included), so a part can
never contain the `:` that separates parts, and two different part tuples can never render to
the same key. `{org}` is a Redis Cluster hash tag: every key, lease, tag generation and epoch of
one organization lives in one slot, so each Lua script touches a single slot.

Over-long keys keep their prefix, org and resource readable and replace the rest with a
SHA-256 digest marked by `#`, a character the encoder never emits.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias
from urllib.parse import quote

from pgkeel.db.context import current_context
from pgkeel.errors import TenantRequired, UsageError

__all__ = [
    "CONTEXT_ORG",
    "GLOBAL",
    "CacheKey",
    "KeyId",
    "KeyPart",
    "KeySpace",
    "StoreKey",
    "Tag",
    "encode_part",
    "epoch_of",
    "key",
    "mget_command",
    "tag",
]

KeyPart: TypeAlias = str | int | uuid.UUID | None
"""What an id (or org) may be made of. `1` and `"1"` are the same id on purpose: ids arrive
as strings from URLs and as ints from the database."""
KeyId: TypeAlias = KeyPart | tuple[KeyPart, ...]
"""One part, or a tuple for composite ids."""


class _ContextOrg:
    """Default for `org=`: take the organization from the current `DbContext`."""

    def __repr__(self) -> str:
        return "CONTEXT_ORG"


CONTEXT_ORG: Final[Any] = _ContextOrg()


class _Global:
    """`org=GLOBAL`: a key that genuinely belongs to no organization (explicit opt-in)."""

    def __repr__(self) -> str:
        return "GLOBAL"


GLOBAL: Final[Any] = _Global()
"""Pass `org=GLOBAL` for a key or tag shared by every organization (a feature flag, a
currency table). Nothing else reaches the shared namespace: a key built with no organization
in the context, or with `org=None`, raises `TenantRequired`."""

_MAX_PART = 64
_ALWAYS_VALID = frozenset({int, uuid.UUID})
"""Id types every value of which renders (a bool is not an int here: `type` is exact)."""
_DIGEST_HEX = 32  # 128 bits of SHA-256


def encode_part(value: KeyPart) -> str:
    """One key part, percent-encoded so it can never contain a separator.

    None renders as `~` and the empty string as `` (nothing); the encoder escapes `~`, so a
    real string can never render as `~`.
    """
    if value is None:
        return "~"
    if isinstance(value, bool):
        raise UsageError("A cache key part cannot be a bool.", hint="Pass an int or a str.")
    if isinstance(value, int | uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise UsageError(f"A cache key part cannot be a {type(value).__name__}.",
                         hint="Pass a str, int or UUID (or a tuple of them).")
    return quote(value, safe="_.-").replace("~", "%7E")


def _encode_id(value: KeyId) -> str:
    if isinstance(value, tuple):
        # `(`, `)` and `,` are escaped inside parts, so a tuple can't collide with a str.
        return "(" + ",".join(encode_part(part) for part in value) + ")"
    return encode_part(value)


def _digest(text: str) -> str:
    return "#" + hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_HEX]


def _org_segment(org: Any) -> str:
    if org == "":
        return "!"  # `{}` is not a hash tag in Redis; `!` is never emitted by the encoder
    segment = encode_part(org)
    return _digest(segment) if len(segment) > _MAX_PART else segment


def _resolve_org(org: Any) -> Any:
    """The key's organization; None only for an explicit `GLOBAL`. Fails closed otherwise."""
    if org is GLOBAL:
        return None
    if org is CONTEXT_ORG:
        org = current_context().org_id
        if org is None:
            raise TenantRequired(
                "A cache key was built with no organization in the request context.",
                hint="Run inside use_context(org_id=...), pass org=..., or org=GLOBAL for "
                     "a key every organization shares.")
    elif org is None or org == "":
        raise TenantRequired("A cache key or tag needs an organization; none was given.",
                             hint="Pass org=GLOBAL for a key every organization shares.")
    return org


@dataclass(frozen=True, slots=True)
class CacheKey:
    """One cached value's identity. Build it with `key(...)` or `Cache.key(...)`."""

    resource: str
    id: KeyId
    action: str = "get"
    org: Any = None

    def render(self, prefix: str, max_length: int = 250) -> str:
        """The Redis key: `<prefix>{org}:resource:id:action`. Past `max_length` the tail is
        hashed (keeping the resource if it still fits); a hashed key is at most
        len(prefix) + 100 characters whatever the parts."""
        head = f"{prefix}{{{_org_segment(self.org)}}}:"
        resource = encode_part(self.resource)
        body = f"{resource}:{_encode_id(self.id)}:{encode_part(self.action)}"
        if len(head) + len(body) <= max_length:
            return head + body
        readable = f"{head}{resource}:{_digest(body)}"
        return readable if len(readable) <= max_length else head + _digest(body)


@dataclass(frozen=True, slots=True)
class Tag:
    """A group of keys invalidated together, scoped to one organization."""

    name: str
    org: Any = None

    def gen_key(self, prefix: str) -> str:
        """Where the tag's generation lives: `<prefix>{org}:!tag:<name>`."""
        return f"{prefix}{{{_org_segment(self.org)}}}:!tag:{encode_part(self.name)}"


def key(resource: str, id: KeyId, action: str = "get", *, org: Any = CONTEXT_ORG) -> CacheKey:
    """A cache key; `org` defaults to the organization of the current `DbContext`."""
    if not resource:
        raise UsageError("A cache key needs a resource name.")
    if type(id) not in _ALWAYS_VALID:
        _encode_id(id)  # validate the parts now, where the caller can see the mistake
    return CacheKey(resource=resource, id=id, action=action, org=_resolve_org(org))


def tag(name: str, *, org: Any = CONTEXT_ORG) -> Tag:
    """A tag; `org` defaults to the organization of the current `DbContext`."""
    if not name:
        raise UsageError("A cache tag needs a name.")
    return Tag(name=name, org=_resolve_org(org))


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Renders keys for one prefix: value, lease, org epoch and tag generation keys."""

    prefix: str = "pgkeel:"
    max_length: int = 250

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise UsageError("The cache prefix cannot contain '{' or '}' (they mark the "
                             "Redis Cluster hash tag).")
        if "\n" in self.prefix:
            raise UsageError("The cache prefix cannot contain a newline (a stored value's "
                             "header lists its tag keys one per line).")

    def store_key(self, cache_key: CacheKey, tags: tuple[Tag, ...] = ()) -> StoreKey:
        value = cache_key.render(self.prefix, self.max_length)
        for item in tags:
            if item.org != cache_key.org:
                raise UsageError(f"Tag {item.name!r} belongs to another organization than "
                                 "its key.", hint="Tags are scoped to the key's org.")
        epoch = self.epoch_key(cache_key.org)
        gen_keys = tuple(item.gen_key(self.prefix) for item in tags)
        return StoreKey(
            value=value,
            lease=value + ":!lease",
            epoch=epoch,
            tags=gen_keys,
            resource=cache_key.resource,
            mget=mget_command((value, epoch, *gen_keys)),
        )

    def epoch_key(self, org: Any) -> str:
        """The org's epoch: bumping it invalidates every key of the org at once."""
        return f"{self.prefix}{{{_org_segment(org)}}}:!epoch"

    @property
    def stats_key(self) -> str:
        """The hash holding the service-wide counters (see `pgkeel.cache.metrics`)."""
        return f"{self.prefix}!stats"

    @property
    def channel(self) -> str:
        """The pub/sub channel two-tier caches use to keep their L1 coherent."""
        return f"{self.prefix}!invalidations"


def epoch_of(gen_key: str) -> str:
    """The epoch key of the organization a generation key belongs to."""
    end = gen_key.index("}")  # the prefix never contains braces; the org segment neither
    return gen_key[:end + 1] + ":!epoch"


@dataclass(frozen=True, slots=True)
class StoreKey:
    """Everything a backend needs to address one value: the Redis key names, resolved."""

    value: str
    lease: str
    epoch: str
    tags: tuple[str, ...]
    """Generation keys of the tags the caller named (their generations guard a fill)."""
    resource: str
    mget: bytes = field(default=b"", compare=False, repr=False)
    """The hit's read, `MGET value epoch tags...`, in the Redis protocol: packed once with
    the key (the cache keeps rendered keys), not on every hit."""


def mget_command(keys: tuple[str, ...]) -> bytes:
    """`MGET keys...` in the Redis protocol (RESP2), as redis-py would send it."""
    parts = [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)]
    for name in keys:
        data = name.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
