"""SQLAlchemy 2 ORM models of the bench tables, declared the way SQLAlchemy users declare them
(typed `Mapped[...]` columns, relationships, client-side uuid defaults, server defaults for
timestamps). Used by the in-process SQLAlchemy contender and by the comparison app."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    LargeBinary,
    String,
    Text,
    and_,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, foreign, mapped_column, relationship

__all__ = ["AuditLog", "Base", "BulkUser", "Role", "Session", "User", "UserRole"]


class Base(DeclarativeBase):
    pass


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = {"schema": "identity"}  # noqa: RUF012 -- SQLAlchemy's own idiom

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(Text))
    is_system: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (
        ForeignKeyConstraint(["organization_id", "user_id"],
                             ["identity.users.organization_id", "identity.users.id"]),
        ForeignKeyConstraint(["organization_id", "role_id"],
                             ["identity.roles.organization_id", "identity.roles.id"]),
        {"schema": "identity"},
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    assigned_by: Mapped[uuid.UUID | None]
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())


class UserColumns:
    """The identity.users columns, shared by `User` and the bulk-insert table `BulkUser`."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID]
    email: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="active")
    is_active: Mapped[bool] = mapped_column(default=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    version: Mapped[int] = mapped_column(default=1)


class User(UserColumns, Base):
    __tablename__ = "users"
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = {"schema": "identity"}  # noqa: RUF012

    password_hash: Mapped[str | None] = mapped_column(Text, deferred=True)

    roles: Mapped[list[Role]] = relationship(
        secondary=UserRole.__table__,
        primaryjoin=lambda: and_(foreign(UserRole.user_id) == User.id,
                                 foreign(UserRole.organization_id) == User.organization_id,
                                 UserRole.is_active),
        secondaryjoin=lambda: and_(Role.id == foreign(UserRole.role_id),
                                   Role.organization_id == foreign(UserRole.organization_id)),
        viewonly=True, lazy="raise", order_by=lambda: Role.name)


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = {"schema": "identity"}  # noqa: RUF012

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    organization_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = {"schema": "audit"}  # noqa: RUF012

    # The table's key, (organization_id, id, created_at); platform events are stored with
    # the nil UUID (pgkeel.audit.PLATFORM_ORG), so the column is never NULL.
    organization_id: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True,
                                                    server_default=func.now())
    actor_id: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    entity_type: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[str | None] = mapped_column(Text)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changed_fields: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    request_id: Mapped[str | None] = mapped_column(String)


class BulkUser(UserColumns, Base):
    __tablename__ = "bulk_users"
    __table_args__ = {"schema": "bench"}  # noqa: RUF012

    password_hash: Mapped[str | None] = mapped_column(Text)
