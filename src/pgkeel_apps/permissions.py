"""The permissions the reference service's endpoints require, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends

from pgkeel.security import Principal
from pgkeel.web import requires

USERS_READ: Final = "USERS_READ"
USERS_WRITE: Final = "USERS_WRITE"
AUDIT_READ: Final = "AUDIT_READ"

Reader = Annotated[Principal, Depends(requires(USERS_READ))]
Writer = Annotated[Principal, Depends(requires(USERS_WRITE))]
Auditor = Annotated[Principal, Depends(requires(AUDIT_READ))]
