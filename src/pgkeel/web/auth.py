"""FastAPI dependencies for bearer-token authentication and permission checks.

    app.state.pgkeel_authenticator = MyAuthenticator(db)     # an `Authenticator`
    # its optional `token_hint` ("get one from POST /login") ends the hint of every 401

    @app.get("/v1/users", dependencies=[Depends(requires("USERS_READ"))])

`requires(...)` answers 401 without (or with a bad) token and 403 without the permission, then
runs the request as that principal: `use_context(org_id=..., actor_id=...)`, so repositories
scope to the caller's organization and audit rows name the actor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import Request

from pgkeel.db import use_context
from pgkeel.errors import Forbidden, Unauthorized, UsageError
from pgkeel.security import Authenticator, Principal
from pgkeel.web.contract import declares_errors, declares_security
from pgkeel.web.routing import direct_dependency

__all__ = ["authenticate", "requires"]

# Documented in OpenAPI (components.securitySchemes) by `install_error_handlers`; the header is
# read below.
BEARER_SCHEME = {"type": "http", "scheme": "bearer",
                 "description": "Send `Authorization: Bearer <token>`."}


@declares_security("bearer", BEARER_SCHEME)
@declares_errors(401, 503)
async def authenticate(request: Request) -> Principal:
    """The caller's principal, from `Authorization: Bearer <token>` (401 otherwise)."""
    authenticator: Authenticator | None = getattr(request.app.state, "pgkeel_authenticator",
                                                  None)
    if authenticator is None:
        raise UsageError("No authenticator configured.",
                         hint="Set app.state.pgkeel_authenticator.")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        where = getattr(authenticator, "token_hint", None)
        raise Unauthorized("A bearer token is required.",
                           hint="Send Authorization: Bearer <token>"
                           + (f" ({where})." if where else "."))
    principal = await authenticator.authenticate(token.strip())
    if principal is None:
        where = getattr(authenticator, "token_hint", None)
        raise Unauthorized("The token is not valid or has expired.",
                           hint="Get a new token" + (f" ({where})." if where else "."))
    return principal


def requires(*permissions: str) -> Callable[..., AsyncIterator[Principal]]:
    """A dependency that authenticates, checks `permissions`, and scopes the request."""

    @direct_dependency
    @declares_security("bearer", BEARER_SCHEME)
    @declares_errors(401, 403, 503)
    async def dependency(request: Request) -> AsyncIterator[Principal]:
        principal = await authenticate(request)
        request.state.principal = principal  # also for error handlers (an audited 403)
        missing = sorted(set(permissions) - principal.permissions)
        if missing:
            raise Forbidden("You do not have permission to do this.",
                            details={"missing": missing})
        with use_context(org_id=principal.org_id, actor_id=principal.user_id):
            yield principal

    dependency.__name__ = "requires_" + "_".join(p.lower() for p in permissions)
    return dependency


