"""Who may see /ops: administrators, by the service's own bearer tokens.

A browser cannot send an `Authorization` header by itself, so the page's login form takes a
token (what the service's login endpoint issues) and keeps it in a cookie: HttpOnly (no
script reads it), SameSite=Strict (no other site's page or form sends it), Secure over
HTTPS, and scoped to the page's path. Scripts and curl send `Authorization: Bearer` as for
any other route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from pgkeel.errors import Forbidden, UsageError
from pgkeel.security import Authenticator, Principal

__all__ = ["COOKIE", "OpsAccess"]

COOKIE = "pgkeel_ops"
"""The cookie holding an administrator's token for the page."""


@dataclass(frozen=True)
class OpsAccess:
    """Which roles (any of them) or permissions (all of them) open the page."""

    roles: frozenset[str]
    permissions: frozenset[str]
    path: str

    @classmethod
    def of(cls, roles: Iterable[str], permissions: Iterable[str], path: str) -> OpsAccess:
        if not roles and not permissions:
            raise UsageError("The /ops page needs roles or permissions to admit anyone by.",
                             hint='Pass ops_router(roles={"ADMIN"}) or permissions=(...).')
        return cls(frozenset(roles), frozenset(permissions), path)

    @staticmethod
    def token(request: Request) -> str | None:
        """The bearer token of the request's header, else of the page's cookie."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.cookies.get(COOKIE) or None

    async def principal(self, request: Request, token: str | None) -> Principal | None:
        """The caller if `token` is valid (None otherwise); Forbidden when valid but not an
        administrator."""
        if not token:
            return None
        authenticator: Authenticator | None = getattr(request.app.state,
                                                      "pgkeel_authenticator", None)
        if authenticator is None:
            raise UsageError("No authenticator configured.",
                             hint="Set app.state.pgkeel_authenticator.")
        principal = await authenticator.authenticate(token)
        if principal is None:
            return None
        request.state.principal = principal  # for error handlers (an audited 403)
        if not self.admits(principal):
            raise Forbidden("The operations page is for administrators.",
                            details={"roles": sorted(self.roles),
                                     "missing": sorted(self.permissions - principal.permissions)})
        return principal

    def admits(self, principal: Principal) -> bool:
        return (not self.roles or bool(self.roles & principal.roles)) \
            and self.permissions <= principal.permissions

    def set_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path=self.path,
                            secure=request.url.scheme == "https")

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=self.path, httponly=True, samesite="strict")

    @staticmethod
    def same_origin(request: Request) -> bool:
        """A form post from this site's own page: by the browser's `Sec-Fetch-Site`, else by
        `Origin` (which is "null" under `Referrer-Policy: no-referrer`); a client sending
        neither (curl) is no browser that another site could drive."""
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site == "same-origin"
        origin = request.headers.get("origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)
