"""`/v1/auth/login`, `/v1/users...`, `/v1/roles` and `/v1/audit-logs...`: the identity API."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.audit import AUDIT_LOG, AppenderDep
from pgkeel.errors import InvalidParameter, Unauthorized
from pgkeel.repo import ListQuery
from pgkeel.web import (
    ApiModel,
    Email,
    IdempotencyKey,
    IdempotentRoute,
    Name,
    OrjsonResponse,
    Secret,
    client_ip,
    declares_errors,
    declares_parameters,
    error_responses,
    list_query,
)
from pgkeel_apps.identity import account_routes
from pgkeel_apps.identity.auth import LoginGuard, SessionAuthenticator
from pgkeel_apps.identity.service import IdentityService
from pgkeel_apps.identity.tables import ROLES, USERS
from pgkeel_apps.permissions import Auditor, Authenticated, Reader, Writer
from pgkeel_apps.settings import AuthSettings

router = APIRouter(tags=["identity"], route_class=IdempotentRoute)

MAX_VERSION = 2**31 - 1
"""users.version is an integer column."""
IF_MATCH = r'^(W/)?"?[1-9][0-9]{0,8}"?$'
"""A version in If-Match, bare or quoted (held below users.version's maximum)."""


class Login(ApiModel):
    # Taken as typed (the email is normalised, not validated: a login never says why it failed).
    organization: Name = Field(min_length=1, max_length=63)
    email: Name = Field(min_length=3, max_length=254)
    password: Secret = Field(min_length=1, max_length=1024)


def _password_policy(schema: dict[str, Any]) -> None:
    """The schema of a new password says what the running service accepts: at least
    PASSWORD_MIN_CHARS characters (read when the OpenAPI document is built)."""
    shortest = AuthSettings().password_min_chars
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["minLength"] = shortest
    schema["description"] = (f"At least {shortest} characters (PASSWORD_MIN_CHARS); common "
                             "and breached passwords are refused at any length.")


class UserCreate(ApiModel):
    email: Email = Field(max_length=254)
    displayName: Name = Field(min_length=1, max_length=200)
    password: Secret | None = Field(None, min_length=8, max_length=1024,
                                    json_schema_extra=_password_policy)
    status: Literal["active", "suspended", "invited"] = "active"
    roleIds: list[UUID] = Field(default_factory=list, max_length=20)


class UserUpdate(ApiModel):
    email: Email | None = Field(None, max_length=254)
    displayName: Name | None = Field(None, min_length=1, max_length=200)
    version: int | None = Field(None, ge=1, le=MAX_VERSION,
                                description="Expected version (or If-Match).")


class StatusChange(ApiModel):
    status: Literal["active", "suspended", "invited"]


class RoleAssign(ApiModel):
    roleId: UUID


async def identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


Service = Annotated[IdentityService, Depends(identity)]


@declares_errors(400)
@declares_parameters([{"name": "days", "in": "query", "required": False,
                       "schema": {"type": "integer", "minimum": 1, "maximum": 365,
                                  "default": 30},
                       "description": "How many days back, 1 to 365 (default 30)."}])
async def days_param(request: Request) -> int:
    """`days` (1-365, default 30), rejected with a 400 like every list parameter."""
    text = request.query_params.get("days", "30")
    unknown = sorted(set(request.query_params) - {"days"})
    if unknown:
        raise InvalidParameter(f"Unknown parameter '{unknown[0]}'.",
                               details={"parameter": unknown[0]}, hint="Only days is accepted.")
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise InvalidParameter("days must be a whole number from 1 to 365.",
                               details={"parameter": "days", "value": text})
    return int(text)


Days = Annotated[int, Depends(days_param)]


@declares_errors(400)
@declares_parameters([{"name": "If-Match", "in": "header", "required": False,
                       "schema": {"type": "string", "pattern": IF_MATCH},
                       "description": "The expected version (as an alternative to `version`): "
                                      "12, \"12\" or W/\"12\"."}])
async def if_match_param(request: Request) -> int | None:
    """The version in `If-Match`, if sent (400 unless it is 1 to 999,999,999)."""
    text = request.headers.get("if-match")
    if text is None:
        return None
    if not re.fullmatch(IF_MATCH, text):
        raise InvalidParameter("If-Match must be the user's version number.",
                               details={"parameter": "If-Match"},
                               hint='Send the version from the last read, e.g. If-Match: "3".')
    return int(text.removeprefix("W/").strip('"'))


IfMatch = Annotated[int | None, Depends(if_match_param)]


def user_out(row: dict[str, Any]) -> dict[str, Any]:
    out = USERS.to_api(row)
    if "roles" in row:
        out["roles"] = row["roles"]
    return out


@router.post("/v1/auth/login", summary="Log in: a bearer token for the organization's user",
             responses=error_responses(401, 429, 503))
async def login(body: Login, request: Request, appender: AppenderDep) -> Response:
    """Rate-limited per client IP and per organization + email; repeated failures lock the
    account out with backoff (429 with Retry-After). Every outcome is audited."""
    authenticator: SessionAuthenticator = request.app.state.pgkeel_authenticator
    guard: LoginGuard = request.app.state.login_guard
    email = body.email.strip().lower()
    await guard.before(client_ip(request), body.organization, email)
    attempt = await authenticator.attempt(body.organization, email, body.password)
    # Security events: each written and committed before the response, so a crash of this
    # process cannot lose one (queued events live in memory until their batch commits).
    if attempt.session is None:
        await guard.record_failure(appender, attempt, organization=body.organization,
                                   email=email, ip=client_ip(request))
        raise Unauthorized("Wrong organization, email or password.")
    await guard.succeeded(body.organization, email)
    await appender.append_durable(action="users.login", entity_type="User",
                                  entity_id=attempt.user_id, org_id=attempt.org_id,
                                  actor_id=attempt.user_id, metadata={"ip": client_ip(request)})
    # A bearer token: never to be stored by a browser or a proxy.
    return OrjsonResponse(attempt.session, headers={"Cache-Control": "no-store",
                                                    "Pragma": "no-cache"})


@router.post("/v1/auth/logout", status_code=204, summary="Log out: end this token's session")
async def logout(request: Request, principal: Authenticated, appender: AppenderDep) -> Response:
    authenticator: SessionAuthenticator = request.app.state.pgkeel_authenticator
    token = request.headers["authorization"].partition(" ")[2].strip()
    if await authenticator.logout(principal.org_id, token):
        await appender.append_durable(action="users.logout", entity_type="User",
                                      entity_id=principal.user_id)
    return Response(status_code=204)


class PasswordChange(ApiModel):
    currentPassword: Secret = Field(min_length=1, max_length=1024)
    newPassword: Secret = Field(min_length=1, max_length=1024,
                                json_schema_extra=_password_policy)


@router.post("/v1/auth/password", status_code=204,
             summary="Change your own password (ends every session of yours)")
async def change_password(body: PasswordChange, _: Authenticated, service: Service) -> Response:
    await service.change_password(body.currentPassword, body.newPassword)
    return Response(status_code=204)


@router.get("/v1/users", summary="List users (paging, filters, sort, search, keyset)")
async def list_users(_: Reader, service: Service,
                     query: Annotated[ListQuery, Depends(list_query(USERS))]) -> Response:
    page = await service.list_users(query)
    return OrjsonResponse(page.envelope([user_out(r) for r in page.items]))


@router.get("/v1/users/{user_id}", summary="One user, with roles")
async def get_user(user_id: UUID, _: Reader, service: Service) -> Response:
    return OrjsonResponse(await service.get_user(user_id))


@router.post("/v1/users", status_code=201,
             summary="Create a user (audited; Idempotency-Key makes retries safe)")
async def create_user(body: UserCreate, _: Writer, service: Service,
                      idem: IdempotencyKey) -> Response:
    user = await service.create_user(
        {"email": body.email, "display_name": body.displayName, "status": body.status,
         "is_active": body.status == "active"}, body.password, body.roleIds, tx=idem.tx)
    return OrjsonResponse(user_out(user), status_code=201,
                          headers={"Location": f"/v1/users/{user['id']}"})


@router.patch("/v1/users/{user_id}", summary="Update a user (audited, optimistic lock)")
async def update_user(user_id: UUID, body: UserUpdate, _: Writer, service: Service,
                      if_match: IfMatch) -> Response:
    version = body.version if if_match is None else if_match
    changes = {k: v for k, v in (("email", body.email), ("display_name", body.displayName))
               if v is not None}
    return OrjsonResponse(user_out(await service.update_user(user_id, changes, version)))


@router.patch("/v1/users/{user_id}/status",
              summary="Change status (never yourself, never the last active admin)")
async def set_status(user_id: UUID, body: StatusChange, _: Writer,
                     service: Service) -> Response:
    return OrjsonResponse(user_out(await service.set_status(user_id, body.status)))


@router.post("/v1/users/{user_id}/roles", summary="Assign a role (idempotent)")
async def add_role(user_id: UUID, body: RoleAssign, _: Writer, service: Service) -> Response:
    changed = await service.add_role(user_id, body.roleId)
    return OrjsonResponse({"userId": user_id, "roleId": body.roleId, "assigned": True,
                           "changed": changed}, status_code=201 if changed else 200)


@router.delete("/v1/users/{user_id}/roles/{role_id}", status_code=204,
               summary="Remove a role (idempotent)")
async def remove_role(user_id: UUID, role_id: UUID, _: Writer, service: Service) -> Response:
    await service.remove_role(user_id, role_id)
    return Response(status_code=204)


@router.get("/v1/roles", summary="The organization's roles")
async def list_roles(_: Reader, service: Service) -> Response:
    return OrjsonResponse({"items": [ROLES.to_api(r) for r in await service.list_roles()]})


@router.get("/v1/audit-logs", summary="The organization's audit log (list grammar)")
async def audit_logs(_: Auditor, service: Service,
                     query: Annotated[ListQuery, Depends(list_query(AUDIT_LOG))]) -> Response:
    page = await service.list_audit_events(query)
    return OrjsonResponse(page.envelope([AUDIT_LOG.to_api(r) for r in page.items]))


@router.get("/v1/audit-logs/summary", summary="Audit events per action and per day")
async def audit_summary(_: Auditor, service: Service, days: Days) -> Response:
    return OrjsonResponse(await service.audit_summary(days))


@router.get("/v1/users/{user_id}/activity", summary="What a user did in the last N days")
async def user_activity(user_id: UUID, _: Auditor, service: Service, days: Days) -> Response:
    return OrjsonResponse(await service.user_activity(user_id, days))


router.include_router(account_routes.router)
