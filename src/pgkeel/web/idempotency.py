"""Idempotency keys for FastAPI routes: the route's writes and its stored response commit once.

    router = APIRouter(route_class=IdempotentRoute)

    @router.post("/v1/users", status_code=201)
    async def create_user(body: UserIn, idem: IdempotencyKey) -> Response:
        user = await users.create(body.model_dump(), tx=idem.tx)   # the request's transaction
        return OrjsonResponse(user, status_code=201)

The dependency validates the `Idempotency-Key` header, fingerprints the request and claims
the key (or answers with the stored response, 409 or 422). It then opens the request's
transaction, `idem.tx`. `IdempotentRoute` sees the response the route returns, stores it in
that transaction and commits it, before anything is sent. The route class also documents
the header and the error responses in OpenAPI. Declare the dependency after authentication:
keys are scoped to the caller's organization.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from starlette.responses import Response

from pgkeel.db import Transaction, current_context
from pgkeel.errors import (
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    IdempotencyKeyMissing,
    PgkeelError,
    QueryTimeout,
    TenantRequired,
    TransactionConflict,
    UsageError,
)
from pgkeel.idempotency import Claim, IdempotencyStore, StoredResponse, fingerprint, parse_key
from pgkeel.web.errors import error_response
from pgkeel.web.routing import DirectRoute
from pgkeel.web.services import request_services

__all__ = ["DEFAULT_STORED_HEADERS", "REPLAYED_HEADER", "Idempotency", "IdempotencyKey",
           "IdempotencyKeyRequired", "IdempotentRoute", "idempotent"]

REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_STORED_HEADERS = ("content-type", "content-language", "content-location", "location",
                          "etag", "last-modified", "link", "retry-after")
"""Response headers stored and replayed; never cookies, request ids or hop-by-hop headers."""

_RELEASED = (TransactionConflict, DatabaseUnavailable, QueryTimeout, UsageError)
"""Errors after which the key is released rather than their answer stored: transient ones
("try again") and bugs. Their work was rolled back, so running the request again is safe."""

_ROUTE_MARK = "pgkeel.idempotent_route"
_CONTEXT = "pgkeel.idempotency"


@dataclass(frozen=True)
class _Spec:
    required: bool
    ttl_s: float | None
    lease_s: float | None
    stored_headers: frozenset[str]


class _Replay(Exception):
    """Raised by the dependency to answer with a stored response (never escapes the route)."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay")
        self.stored = stored


@dataclass
class Idempotency:
    """What an idempotent route receives: the key (None when the client sent none) and the
    request's transaction, committed together with the stored response."""

    key: str | None
    claim: Claim | None = None
    _spec: _Spec | None = field(default=None, repr=False)
    _store: IdempotencyStore | None = field(default=None, repr=False)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)
    _tx: Transaction | None = field(default=None, repr=False)

    @property
    def tx(self) -> Transaction:
        """The request's transaction: write through it, and the writes commit with the
        stored response (or not at all). Do not commit or roll it back yourself."""
        if self._tx is None:
            raise UsageError("The idempotency transaction is not open.")
        return self._tx

    @property
    def attempts(self) -> int:
        """1 on the first run; more when an earlier run with this key died mid-request."""
        return self.claim.attempts if self.claim else 1

    # -- driven by IdempotentRoute ---------------------------------------------------------

    async def _finish(self, response: Response) -> Response:
        """Store the route's response in its transaction and commit both."""
        if self.claim is None or self._store is None or self._spec is None:
            await self._stack.aclose()
            return response
        body = getattr(response, "body", None)
        if not isinstance(body, bytes):
            return await self._fail(UsageError(
                "An idempotent route must return a complete response, not a stream."))
        stored = StoredResponse(response.status_code, _selected(response, self._spec), body)
        try:
            await self._store.complete(self.tx, self.claim, stored)
        except BaseException as exc:
            await self._stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        try:
            await self._stack.aclose()  # COMMIT: the writes and the stored response together
        except PgkeelError as exc:  # COMMIT failed, so the transaction is gone
            return await self._after_rollback(exc)
        return response

    async def _fail(self, exc: BaseException) -> Response:
        """The route raised: roll its work back, then answer as `_after_rollback` decides."""
        await self._stack.__aexit__(type(exc), exc, exc.__traceback__)
        return await self._after_rollback(exc)

    async def _after_rollback(self, exc: BaseException) -> Response:
        """Store the error's response when it answers this request; release the key when a
        retry could do better (transient errors, bugs); leave it to its lease when COMMIT's
        outcome is unknown."""
        claim, store, spec = self.claim, self._store, self._spec
        if claim is None or store is None or spec is None or isinstance(
                exc, CommitOutcomeUnknown):
            raise exc
        if not isinstance(exc, PgkeelError) or isinstance(exc, _RELEASED):
            if isinstance(exc, Exception):  # not on cancellation: the lease covers that
                await store.release(claim)
            raise exc
        response = error_response(exc)
        await store.save(claim, StoredResponse(response.status_code,
                                               _selected(response, spec), bytes(response.body)))
        return response


def _selected(response: Response, spec: _Spec) -> list[tuple[str, str]]:
    return [(name, value) for name, value in response.headers.items()
            if name.lower() in spec.stored_headers]


def _replayed(stored: StoredResponse) -> Response:
    response = Response(content=stored.body, status_code=stored.status)
    for name, value in stored.headers:
        response.headers.append(name, value)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or request.url.path
    return f"{request.method} {template}"


def idempotent(*, required: bool = False, ttl_s: float | None = None,
               lease_s: float | None = None,
               stored_headers: tuple[str, ...] = DEFAULT_STORED_HEADERS,
               ) -> Callable[[Request], Coroutine[Any, Any, Idempotency]]:
    """The dependency for a route that honours `Idempotency-Key` (400 when `required` and
    missing). `ttl_s` / `lease_s` override IDEMPOTENCY_TTL_S / IDEMPOTENCY_LOCK_LEASE_S."""
    spec = _Spec(required, ttl_s, lease_s, frozenset(h.lower() for h in stored_headers))

    async def dependency(request: Request) -> Idempotency:
        if request.scope.get(_ROUTE_MARK) is not True:
            raise UsageError("An idempotent route must use IdempotentRoute.",
                             hint="Create its router with APIRouter(route_class="
                                  "IdempotentRoute).")
        services = request_services(request)
        settings = services.settings
        key = parse_key(request.headers.getlist("idempotency-key"),
                        max_length=settings.idempotency_key_max_length)
        if key is None and required:
            raise IdempotencyKeyMissing(
                "This operation requires an Idempotency-Key header.",
                hint="Send Idempotency-Key: <a new UUID>, and the same one when retrying.")
        idem = Idempotency(key, _spec=spec)
        if key is not None:
            context = current_context()
            org = context.org_id
            if org is None:
                raise TenantRequired(
                    "Idempotency keys are scoped to the caller's organization.",
                    hint="Declare the idempotency dependency after the authentication one.")
            store = IdempotencyStore(
                services.db, ttl_s=settings.idempotency_ttl_s if ttl_s is None else ttl_s,
                lease_s=settings.idempotency_lock_lease_s if lease_s is None else lease_s)
            route = _route_of(request)
            fp = fingerprint(request.method, route, await request.body(),
                             path_params=request.path_params,
                             query=request.query_params.multi_items(),
                             caller=None if context.actor_id is None else str(context.actor_id))
            outcome = await store.claim(str(org), route, key, fp)
            if isinstance(outcome, StoredResponse):
                raise _Replay(outcome)
            idem.claim, idem._store = outcome, store
        request.scope[_CONTEXT] = idem
        try:
            idem._tx = await idem._stack.enter_async_context(services.db.transaction())
        except BaseException as exc:
            if idem.claim is not None and idem._store is not None and isinstance(
                    exc, Exception):
                await idem._store.release(idem.claim)
            raise
        return idem

    dependency.__name__ = "idempotency_key_required" if required else "idempotency_key"
    dependency.__pgkeel_idempotency__ = spec  # type: ignore[attr-defined]
    return dependency


IdempotencyKey = Annotated[Idempotency, Depends(idempotent())]
"""A route parameter: `Idempotency-Key` is optional."""
IdempotencyKeyRequired = Annotated[Idempotency, Depends(idempotent(required=True))]
"""A route parameter: `Idempotency-Key` is required (400 without it)."""


def _spec_of(dependant: Dependant) -> _Spec | None:
    spec = getattr(dependant.call, "__pgkeel_idempotency__", None)
    if isinstance(spec, _Spec):
        return spec
    for sub in dependant.dependencies:
        found = _spec_of(sub)
        if found is not None:
            return found
    return None


def _error(description: str, example: str) -> dict[str, Any]:
    # ErrorBody is added to the components by pgkeel.web.contract (install_error_handlers).
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"},
        "example": {"code": example, "message": description, "details": {}, "hint": None}}}}


def openapi_for(spec: _Spec) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The header parameter and the error responses an idempotent route documents."""
    header = {"name": "Idempotency-Key", "in": "header", "required": spec.required,
              "schema": {"type": "string", "minLength": 1, "maxLength": 255},
              "description": "A unique key per operation (e.g. a UUID), resent unchanged on "
                             "retries. A retry gets the first response again, with "
                             f"{REPLAYED_HEADER}: true."}
    responses = {
        400: _error("Idempotency-Key missing (when required) or malformed; or another "
                    "invalid parameter", "idempotency_key_invalid"),
        409: _error("A request with this Idempotency-Key is still in flight (Retry-After "
                    "says when to retry); or another conflict", "idempotency_key_in_flight"),
        422: _error("This Idempotency-Key was used for a different request; or the "
                    "request is not valid", "idempotency_key_reused"),
    }
    return {"parameters": [header]}, responses


class IdempotentRoute(DirectRoute):
    """An APIRoute that stores the responses of routes using `idempotent()` and commits
    them with the route's writes; other routes are served as by `DirectRoute`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        spec = _spec_of(self.dependant)
        if spec is not None:
            extra, responses = openapi_for(spec)
            self.openapi_extra = {**(self.openapi_extra or {})}
            self.openapi_extra["parameters"] = [*self.openapi_extra.get("parameters", []),
                                                *extra["parameters"]]
            for status, doc in responses.items():
                self.responses.setdefault(status, doc)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if _spec_of(self.dependant) is None:
            return handler

        async def idempotent_handler(request: Request) -> Response:
            request.scope[_ROUTE_MARK] = True
            try:
                response = await handler(request)
            except _Replay as replay:
                return _replayed(replay.stored)
            except BaseException as exc:
                idem = request.scope.get(_CONTEXT)
                if not isinstance(idem, Idempotency):
                    raise
                return await idem._fail(exc)
            idem = request.scope.get(_CONTEXT)
            if not isinstance(idem, Idempotency):
                return response
            return await idem._finish(response)

        return idempotent_handler
