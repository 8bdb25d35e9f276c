"""The permissions the reference service's endpoints require, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends

from pgkeel.security import Principal
from pgkeel.web import requires

USERS_READ: Final = "USERS_READ"
USERS_WRITE: Final = "USERS_WRITE"
AUDIT_READ: Final = "AUDIT_READ"

PUBLIC_WRITE_ROUTES: Final = frozenset({
    ("POST", "/v1/auth/login"),   # exchanges a password for a token: no token exists yet
})
"""The (method, path) write routes that take no bearer token. Every other POST, PUT, PATCH and
DELETE route requires a write permission, and the tests check each one, from the route table,
with a read-only caller and with a caller holding no permission."""

Reader = Annotated[Principal, Depends(requires(USERS_READ))]
Writer = Annotated[Principal, Depends(requires(USERS_WRITE))]
Auditor = Annotated[Principal, Depends(requires(AUDIT_READ))]
