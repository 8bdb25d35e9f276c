"""RequestLimitsMiddleware: oversized bodies are 413 and oversized headers 431, before the app
reads anything."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from pgkeel.web import (
    OrjsonResponse,
    RequestIdMiddleware,
    RequestLimitsMiddleware,
    install_error_handlers,
)

pytestmark = pytest.mark.smoke


def make_app(seen: list[int]) -> FastAPI:
    app = FastAPI(default_response_class=OrjsonResponse)
    install_error_handlers(app)
    app.add_middleware(RequestLimitsMiddleware, max_body=1000, limits={"/small/": 100},
                       max_header=200, max_headers_total=1000, max_header_count=20)
    app.add_middleware(RequestIdMiddleware)

    @app.post("/{path:path}")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"size": len(body)}

    return app


@pytest.fixture
async def limited():
    seen: list[int] = []
    transport = httpx.ASGITransport(app=make_app(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, seen


async def stream(size: int, chunk: int = 64):
    for start in range(0, size, chunk):
        yield b"x" * min(chunk, size - start)


async def test_bodies_up_to_the_limit_pass_and_larger_ones_never_reach_the_app(limited):
    client, seen = limited
    assert (await client.post("/big/x", content=b"x" * 1000)).json() == {"size": 1000}
    assert (await client.post("/big/x", content=stream(1000))).json() == {"size": 1000}
    assert (await client.post("/small/x", content=b"x" * 100)).status_code == 200
    for path, size in (("/big/x", 1001), ("/small/x", 101)):
        for content in (b"x" * size, stream(size)):
            response = await client.post(path, content=content)
            assert response.status_code == 413, (path, size)
            body = response.json()
            assert body["code"] == "payload_too_large"
            assert body["details"]["request_id"] == response.headers["x-request-id"]
    assert seen == [1000, 1000, 100]


async def test_a_malformed_content_length_is_a_400(limited):
    client, _ = limited
    response = await client.post("/big/x", content=b"{}", headers={"Content-Length": "-1"})
    assert response.status_code == 400


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer " + "a" * 300},                       # one header too large
    {f"X-Extra-{i}": "v" * 150 for i in range(8)},                  # too large in total
    {f"X-Many-{i}": "v" for i in range(25)},                        # too many
])
async def test_oversized_headers_are_431(limited, headers):
    client, seen = limited
    response = await client.post("/big/x", content=b"{}", headers=headers)
    assert response.status_code == 431
    assert response.json()["code"] == "headers_too_large"
    assert seen == []


def test_a_rate_limited_route_documents_429():
    from fastapi import Depends

    from pgkeel.web import SlidingWindowLimiter, rate_limit

    app = FastAPI()
    install_error_handlers(app)
    limiter = SlidingWindowLimiter(None, name="form", limit=5, window_s=60)

    @app.post("/form", dependencies=[Depends(rate_limit(limiter))])
    async def form() -> dict[str, bool]:
        return {"ok": True}

    responses = app.openapi()["paths"]["/form"]["post"]["responses"]
    assert {"429", "503"} <= set(responses)
    assert "Retry-After" in responses["429"]["headers"]


async def _raw(app: FastAPI, version: str, chunks: list[bytes]) -> int:
    """One POST straight through ASGI, the body in `chunks` and no framing headers."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": version,
             "method": "POST", "scheme": "http", "path": "/small/x", "raw_path": b"/small/x",
             "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
             "client": ("127.0.0.1", 1), "server": ("test", 80)}
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    status = 0

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    await app(scope, receive, send)
    return status


async def test_a_body_without_framing_headers_is_limited_where_the_protocol_allows_one():
    seen: list[int] = []
    app = make_app(seen)
    # HTTP/2 may stream a body with neither Content-Length nor Transfer-Encoding: counted.
    assert await _raw(app, "2", [b"x" * 60, b"x" * 60]) == 413
    assert await _raw(app, "2", [b"x" * 60, b"x" * 40]) == 200
    # HTTP/1.1 with neither header has no body (RFC 9112): nothing to count or hold.
    assert await _raw(app, "1.1", [b""]) == 200
    assert seen == [100, 0]
