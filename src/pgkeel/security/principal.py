"""Who is calling: the authenticated principal and how an application resolves one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Authenticator", "Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: their id, organization and permissions."""

    user_id: Any
    org_id: Any
    permissions: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    def has(self, *permissions: str) -> bool:
        return all(p in self.permissions for p in permissions)


class Authenticator(Protocol):
    """Resolves a bearer token to a principal (None when the token is unknown or expired).

    An authenticator may also have a `token_hint` attribute, saying where a caller gets a
    token ("ask your administrator for an API key"): every 401 ends its hint with it."""

    async def authenticate(self, token: str) -> Principal | None: ...
