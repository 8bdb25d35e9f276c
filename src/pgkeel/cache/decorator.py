"""`cache.cached(resource, ...)`: cache an async read function, keyed by its arguments.

    get_user = cache.cached("users", ttl=TTL.MEDIUM)(load_user)   # load_user(db, user_id)
    await get_user(db, user_id)           # key pgkeel:{org}:users:<user_id>:load_user
    cache.invalidate_on_commit(tx, get_user.key(user_id))

At module level, before any cache exists, `@cached("users", ttl=TTL.MEDIUM)` binds lazily:
each call uses the cache open at that moment -- the one `pgkeel_lifespan` opened (or any
`with default_cache(cache):`), so a decorated function can be defined at import time.

The key's id is made of the arguments that are not plumbing: parameters named `self`, `cls`,
`db`, `tx`, `conn`, `database`, `session` or `repo`, and any `Database` / `Transaction`
argument, are left out. The codec follows the return annotation (pydantic's JSON for that
type), so a cached `User | None` comes back as a `User` or None.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from pgkeel.cache.envelope import Codec, JsonCodec, TypedCodec
from pgkeel.cache.keys import CONTEXT_ORG, CacheKey, KeyId, KeyPart, Tag, key
from pgkeel.errors import UsageError

__all__ = ["IGNORED_PARAMETERS", "CachedFunction", "Decorator", "cached", "current_cache",
           "default_cache"]

P = ParamSpec("P")
T = TypeVar("T")

IGNORED_PARAMETERS = frozenset({"self", "cls", "db", "tx", "conn", "database", "session",
                                "repo"})


class CacheReads(Protocol):
    """What a cached function needs of its `pgkeel.cache.Cache` (which imports this module,
    not the other way round)."""

    async def get_or_set(self, cache_key: CacheKey, loader: Callable[[], Awaitable[T]], *,
                         ttl: float | None = None, tags: Iterable[str | Tag] = (),
                         negative_ttl: float | None = None, stale_ok: bool = False,
                         codec: Codec | None = None) -> T: ...


_OPEN: list[CacheReads] = []
"""The caches open for lazily bound `@cached` functions, innermost last."""


@contextmanager
def default_cache(cache: CacheReads) -> Iterator[CacheReads]:
    """Inside the block, `@cached` functions defined without a cache use `cache`
    (`pgkeel_lifespan` holds this for the app's life)."""
    _OPEN.append(cache)
    try:
        yield cache
    finally:
        _OPEN.remove(cache)


def current_cache() -> CacheReads:
    """The cache lazily bound `@cached` functions use now."""
    if not _OPEN:
        raise UsageError("No cache is open for this @cached function.",
                         hint="Call it while the app runs (pgkeel_lifespan opens the cache), "
                              "or inside `with default_cache(cache):`.")
    return _OPEN[-1]


class Decorator(Protocol):
    def __call__(self, fn: Callable[P, Awaitable[T]], /) -> CachedFunction[P, T]: ...


class CachedFunction(Generic[P, T]):
    """An async function whose results are cached; call it like the original."""

    def __init__(self, cache: CacheReads | None, fn: Callable[P, Awaitable[T]], *,
                 resource: str,
                 action: str | None, ttl: float | None,
                 tags: Iterable[str | Tag] | Callable[P, Iterable[str | Tag]],
                 negative_ttl: float | None, stale_ok: bool, codec: Codec | None,
                 ignore: Iterable[str]) -> None:
        self._cache = cache
        self.fn = fn
        self.resource = resource
        self.action: str = action or str(getattr(fn, "__name__", "call"))
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.stale_ok = stale_ok
        self.codec = codec or _codec_for(fn)
        self._tags = tags
        self._ignore = frozenset(ignore)
        self._signature = inspect.signature(fn)
        self.__name__ = self.action
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @property
    def cache(self) -> CacheReads:
        """The cache given to the decorator, else the one open now (`current_cache`)."""
        return self._cache if self._cache is not None else current_cache()

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        tags = self._tags(*args, **kwargs) if callable(self._tags) else self._tags
        return await self.cache.get_or_set(
            self.key(*self._id_parts(args, kwargs)), lambda: self.fn(*args, **kwargs),
            ttl=self.ttl, tags=tags, negative_ttl=self.negative_ttl, stale_ok=self.stale_ok,
            codec=self.codec)

    def key(self, *id_parts: KeyPart, org: Any = CONTEXT_ORG) -> CacheKey:
        """The key a call with these id arguments uses (to invalidate it):
        `get_user.key(user_id)` for `get_user(db, user_id)`."""
        ident: KeyId = id_parts[0] if len(id_parts) == 1 else tuple(id_parts)
        return key(self.resource, ident, self.action, org=org)

    def _id_parts(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[KeyPart]:
        from pgkeel.db import Database, Transaction

        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        parts: list[KeyPart] = []
        for name, value in bound.arguments.items():
            if name in self._ignore or isinstance(value, Database | Transaction):
                continue
            kind = self._signature.parameters[name].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise UsageError(f"{self.action}: *args/**kwargs can't be part of a cache key.",
                                 hint="Give the function explicit parameters.")
            parts.append(value)
        return parts


def _codec_for(fn: Callable[..., Any]) -> Codec:
    """pydantic's JSON for the return annotation, or plain JSON when there is none."""
    try:
        returns = typing.get_type_hints(fn).get("return")
    except Exception:
        returns = None
    if returns is None or returns is Any or returns is object:
        return JsonCodec()
    try:
        return TypedCodec(returns)
    except Exception:
        return JsonCodec()


_Tags = Iterable[str | Tag] | Callable[..., Iterable[str | Tag]]


@overload
def cached(resource: str, /, *, action: str | None = None, ttl: float | None = None,
           tags: _Tags = (), negative_ttl: float | None = None, stale_ok: bool = False,
           codec: Codec | None = None, ignore: Iterable[str] = IGNORED_PARAMETERS
           ) -> Decorator: ...


@overload
def cached(cache: CacheReads, resource: str, /, *, action: str | None = None,
           ttl: float | None = None, tags: _Tags = (), negative_ttl: float | None = None,
           stale_ok: bool = False, codec: Codec | None = None,
           ignore: Iterable[str] = IGNORED_PARAMETERS) -> Decorator: ...


def cached(cache: CacheReads | str, resource: str | None = None, /, *,
           action: str | None = None, ttl: float | None = None, tags: _Tags = (),
           negative_ttl: float | None = None, stale_ok: bool = False,
           codec: Codec | None = None,
           ignore: Iterable[str] = IGNORED_PARAMETERS) -> Decorator:
    """Cache `fn`'s results under `resource` (and `action`, default: the function's name).
    `tags` may be a callable taking the function's arguments. `cached(cache, "users")`
    binds to that cache; `cached("users")` to whichever is open at each call."""
    bound: CacheReads | None
    if isinstance(cache, str):
        if resource is not None:
            raise UsageError("cached() takes a cache and a resource, or only a resource.")
        bound, name = None, cache
    else:
        if resource is None:
            raise UsageError("cached(cache, resource): the resource is missing.")
        bound, name = cache, resource

    def decorate(fn: Callable[P, Awaitable[T]], /) -> CachedFunction[P, T]:
        return CachedFunction(bound, fn, resource=name, action=action, ttl=ttl, tags=tags,
                              negative_ttl=negative_ttl, stale_ok=stale_ok, codec=codec,
                              ignore=ignore)

    return decorate
