"""`/v1/auth/verify-email...` and `/v1/auth/password-reset...`: the token flows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.web import (
    ApiModel,
    DirectRoute,
    Name,
    OrjsonResponse,
    Secret,
    client_ip,
    error_responses,
)
from pgkeel_apps.identity.auth import LoginGuard
from pgkeel_apps.identity.tokens import VerificationTokens
from pgkeel_apps.permissions import Authenticated

router = APIRouter(tags=["identity"], route_class=DirectRoute)

TOKEN = r"^pgk_[A-Za-z0-9_-]{20,100}$"  # noqa: S105 -- a pattern, not a secret


TOKEN_EXAMPLE = "pgk_" + "x" * 43  # the shape of a token, for the docs


class TokenIn(ApiModel):
    token: str = Field(pattern=TOKEN, max_length=104, examples=[TOKEN_EXAMPLE])


class ResetRequest(ApiModel):
    organization: Name = Field(min_length=1, max_length=63)
    email: Name = Field(min_length=3, max_length=254)


class PasswordReset(ApiModel):
    token: str = Field(pattern=TOKEN, max_length=104, examples=[TOKEN_EXAMPLE])
    newPassword: Secret = Field(min_length=1, max_length=1024)


async def tokens(request: Request) -> VerificationTokens:
    service: VerificationTokens = request.app.state.verification_tokens
    return service


Tokens = Annotated[VerificationTokens, Depends(tokens)]


@router.post("/v1/auth/verify-email/request", status_code=202,
             summary="Email yourself a verification link (single use, expiring)")
async def request_verification(principal: Authenticated, service: Tokens) -> Response:
    sent = await service.request_verification(principal.org_id, principal.user_id)
    return OrjsonResponse({"sent": sent, "alreadyVerified": not sent}, status_code=202)


@router.post("/v1/auth/verify-email", status_code=204, responses=error_responses(400),
             summary="Verify your email with the link's token")
async def verify_email(body: TokenIn, service: Tokens) -> Response:
    await service.verify_email(body.token)
    return Response(status_code=204)


@router.post("/v1/auth/password-reset/request", status_code=202,
             responses=error_responses(429, 503),
             summary="Ask for a password reset link (the answer never says if the account "
                     "exists)")
async def request_reset(body: ResetRequest, request: Request, service: Tokens) -> Response:
    guard: LoginGuard = request.app.state.login_guard
    email = body.email.strip().lower()
    await guard.before(client_ip(request), body.organization, email)
    await service.request_reset(body.organization, email)
    return OrjsonResponse({"received": True}, status_code=202)


@router.post("/v1/auth/password-reset", status_code=204, responses=error_responses(400),
             summary="Set a new password with a reset token (ends every session)")
async def reset_password(body: PasswordReset, service: Tokens) -> Response:
    await service.reset_password(body.token, body.newPassword)
    return Response(status_code=204)
