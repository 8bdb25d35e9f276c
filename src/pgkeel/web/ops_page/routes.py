"""The /ops routes: the page, its data as JSON, and the login form that sets its cookie."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pgkeel.errors import Unauthorized
from pgkeel.ops.history import SERIES
from pgkeel.web.ops_page.access import OpsAccess
from pgkeel.web.ops_page.charts import sparkline
from pgkeel.web.ops_page.data import collect, panels
from pgkeel.web.responses import OrjsonResponse

__all__ = ["ops_router"]

_TEMPLATES = Environment(loader=PackageLoader("pgkeel.web.ops_page", "templates"),
                         autoescape=select_autoescape(default=True, default_for_string=True))
_TEMPLATES.filters["number"] = lambda value: "" if value is None else _format(value)
# No script runs on these pages, and nothing loads from elsewhere.
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "cache-control": "no-store",
}
_MAX_FORM = 8192


def ops_router(*, roles: Iterable[str] = (), permissions: Iterable[str] = (),
               path: str = "/ops", refresh_s: int = 30) -> APIRouter:
    """The page at `path` (and `path`/json, `path`/login, `path`/logout) for callers holding
    any of `roles` and all of `permissions`; it reloads itself every `refresh_s` seconds."""
    access = OpsAccess.of(roles, permissions, path)
    router = APIRouter(include_in_schema=False)

    @router.get(path)
    async def page(request: Request) -> Response:
        if await access.principal(request, access.token(request)) is None:
            return RedirectResponse(f"{path}/login", status_code=303)
        data = await collect(request)
        return _html("ops.html.j2", data=data, panels=panels(data), charts=_charts(data),
                     refresh_s=refresh_s, path=path)

    @router.get(f"{path}/json")
    async def as_json(request: Request) -> Response:
        if await access.principal(request, access.token(request)) is None:
            raise Unauthorized("An administrator's bearer token is required.",
                               hint=f"Send Authorization: Bearer <token>, or log in at "
                                    f"{path}/login.")
        return OrjsonResponse(await collect(request), headers={"cache-control": "no-store"})

    @router.get(f"{path}/login")
    async def login_form() -> Response:
        return _html("login.html.j2", path=path, error=None)

    @router.post(f"{path}/login")
    async def login(request: Request) -> Response:
        body = await request.body()
        if not access.same_origin(request) or len(body) > _MAX_FORM:
            return _html("login.html.j2", path=path, status=400,
                         error="This form must be sent from this page.")
        token = (parse_qs(body.decode(errors="replace")).get("token") or [""])[0].strip()
        if await access.principal(request, token) is None:
            return _html("login.html.j2", path=path, status=401,
                         error="That token is not valid or has expired.")
        response = RedirectResponse(path, status_code=303)
        access.set_cookie(request, response, token)
        return response

    @router.post(f"{path}/logout")
    async def logout(request: Request) -> Response:
        response = RedirectResponse(f"{path}/login", status_code=303)
        if access.same_origin(request):
            access.clear_cookie(response)
        return response

    return router


def _charts(data: dict[str, Any]) -> list[dict[str, Any]]:
    history = data["history"]
    if history is None:
        return []
    now = time.time()
    series = history["series"]
    # A young history spans the time since its first sample (a minute at least), not an hour.
    first = min((points[0][0] for points in series.values() if points), default=now)
    window_s = min(history["window_s"], max(60.0, now - first))
    charts = []
    for name, title in SERIES.items():
        points = [(at, value) for at, value in series.get(name, [])]
        latest = points[-1][1] if points else None
        charts.append({"name": name, "title": title, "number": _format(latest),
                       "svg": sparkline(points, now=now, window_s=window_s, title=title)})
    return charts


def _format(value: float | None) -> str:
    """A number as the page shows it: whole numbers without a fraction."""
    if value is None:
        return "0"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _html(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(template).render(**context),
                        status_code=status, headers=_HEADERS)
