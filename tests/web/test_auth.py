"""Bearer authentication: the 401's hint is the application's, and /docs gets its Authorize
button from the bearer scheme every `requires(...)` route declares."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import Depends, FastAPI

from pgkeel.security import Principal
from pgkeel.web import RequestIdMiddleware, install_error_handlers, requires

pytestmark = pytest.mark.smoke

TOKEN = "good-token"


class Tokens:
    """Knows one token; says where tokens come from only when given a hint."""

    def __init__(self, token_hint: str | None = None) -> None:
        if token_hint is not None:
            self.token_hint = token_hint

    async def authenticate(self, token: str) -> Principal | None:
        if token != TOKEN:
            return None
        return Principal(user_id=uuid.uuid4(), org_id=uuid.uuid4(),
                         permissions=frozenset({"NOTES_READ"}))


def make_app(authenticator: Tokens) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.state.pgkeel_authenticator = authenticator

    @app.get("/notes", dependencies=[Depends(requires("NOTES_READ"))])
    async def notes() -> list[str]:
        return []

    @app.get("/open")
    async def open_() -> list[str]:
        return []

    return app


async def get(app: FastAPI, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_the_401_hint_names_no_endpoint_unless_the_app_gives_one():
    plain = await get(make_app(Tokens()), "/notes")
    assert plain.status_code == 401
    assert plain.json()["hint"] == "Send Authorization: Bearer <token>."
    assert "/v1/auth" not in plain.text
    hinted = await get(make_app(Tokens("get one from POST /login")), "/notes")
    assert hinted.json()["hint"] == "Send Authorization: Bearer <token> (get one from POST /login)."
    assert (await get(make_app(Tokens()), "/notes", TOKEN)).status_code == 200


async def test_a_bad_tokens_401_names_no_login_unless_the_app_gives_one():
    plain = await get(make_app(Tokens()), "/notes", "stale-token")
    assert plain.status_code == 401
    assert plain.json()["hint"] == "Get a new token."
    hinted = await get(make_app(Tokens("ask your administrator for an API key")), "/notes",
                       "stale-token")
    assert hinted.json()["hint"] == "Get a new token (ask your administrator for an API key)."


def test_requires_declares_the_bearer_scheme_for_the_authorize_button():
    spec = make_app(Tokens()).openapi()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "Send `Authorization: Bearer <token>`."}
    assert spec["paths"]["/notes"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/open"]["get"]
