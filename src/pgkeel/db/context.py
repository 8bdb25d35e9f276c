"""Who is acting, for which organization, in which request -- carried into every transaction.

The context lives in a `contextvars.ContextVar`, so it follows a request through `await`s and
tasks. Each transaction writes it with `set_config(..., true)` as `pgkeel.org_id`,
`pgkeel.actor_id` and `pgkeel.request_id`, where row-level security policies and audit
triggers read it with `current_setting('pgkeel.org_id', true)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from pgkeel.errors import UsageError

__all__ = ["DbContext", "current_context", "primary_reads", "reads_need_primary",
           "use_context"]


@dataclass
class _Scope:
    """Mutable per-scope state: whether this scope has committed a write (read-your-writes)."""

    wrote: bool = False


@dataclass(frozen=True)
class DbContext:
    """The identity a transaction runs under. Any field may be None."""

    org_id: Any = None
    actor_id: Any = None
    request_id: str | None = None
    client_request_id: str | None = None
    """The id the client sent (X-Request-ID), kept apart from the server-made `request_id`."""
    scope: _Scope | None = field(default=None, compare=False, repr=False)
    """Set by `use_context`; outside any scope, writes are not tracked for routing."""
    _values: tuple[str, str, str] | None = field(default=None, init=False, compare=False,
                                                 repr=False)

    def settings(self) -> dict[str, str]:
        """The `pgkeel.*` settings to apply; unset fields become '' so a stale value never
        survives from an earlier transaction on the same pooled connection."""
        org, actor, request = self.values()
        return {"pgkeel.org_id": org, "pgkeel.actor_id": actor, "pgkeel.request_id": request}

    def values(self) -> tuple[str, str, str]:
        """`settings()`'s values in that order (org, actor, request id): what the settings
        statements bind. Computed once per context (it is immutable), not once per read."""
        values = self._values
        if values is None:
            values = ("" if self.org_id is None else str(self.org_id),
                      "" if self.actor_id is None else str(self.actor_id),
                      self.request_id or "")
            object.__setattr__(self, "_values", values)
        return values


_PRIMARY_ONLY: ContextVar[bool] = ContextVar("pgkeel_primary_reads", default=False)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Inside the block every read goes to the primary, even one that asks for a replica.

    Cache fills run in it: a replica may not yet have replayed the write whose invalidation
    the fill follows, and a value read there would be stored for its whole TTL."""
    token = _PRIMARY_ONLY.set(True)
    try:
        yield
    finally:
        _PRIMARY_ONLY.reset(token)


def reads_need_primary() -> bool:
    """True inside `primary_reads()`."""
    return _PRIMARY_ONLY.get()


_EMPTY = DbContext()
_CURRENT: ContextVar[DbContext | None] = ContextVar("pgkeel_db_context", default=None)


def current_context() -> DbContext:
    return _CURRENT.get() or _EMPTY


class use_context:
    """Run the block under this identity; unspecified fields inherit from the outer context.

    A new scope starts here: reads inside it go to replicas until it commits a write.
    A plain class rather than a `@contextmanager` generator: it is entered once per request,
    and the generator's machinery cost more than the rest of it. One instance may be entered
    again after its block ends, but not while it is still active.
    """

    __slots__ = ("_ctx", "_inherit", "_token")

    def __init__(self, *, org_id: Any = None, actor_id: Any = None,
                 request_id: str | None = None, client_request_id: str | None = None,
                 inherit: bool = True) -> None:
        self._ctx = (org_id, actor_id, request_id, client_request_id)
        self._inherit = inherit
        self._token: Token[DbContext | None] | None = None

    def __enter__(self) -> DbContext:
        if self._token is not None:
            raise UsageError("This use_context(...) block is already active: call "
                             "use_context() again for a nested scope.")
        org_id, actor_id, request_id, client_request_id = self._ctx
        base = current_context() if self._inherit else _EMPTY
        ctx = DbContext(
            base.org_id if org_id is None else org_id,
            base.actor_id if actor_id is None else actor_id,
            base.request_id if request_id is None else request_id,
            base.client_request_id if client_request_id is None else client_request_id,
            _Scope(),
        )
        self._token = _CURRENT.set(ctx)
        return ctx

    def __exit__(self, *exc: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            _CURRENT.reset(token)
