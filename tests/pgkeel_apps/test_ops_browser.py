"""The /ops page in a real browser: Debian's chromium driven by Playwright (never a browser
Playwright downloads). It logs in through the page's form, loads the page, and checks that
no console error occurred and that every panel shows a number; the screenshot is saved in
the test's temporary folder."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
import uvicorn

CHROMIUM = os.environ.get("PGKEEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.async_api",
                                 reason="Playwright for Python is not installed (dev extra)")
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no chromium at {CHROMIUM}: apt-get install chromium (or set PGKEEL_CHROMIUM)")

NUMBER = re.compile(r"\d")


async def test_the_ops_page_in_chromium(api, tmp_path: Path):
    # Some cached reads first, so the cache panel has a hit rate to show.
    admin = await api.as_("org-1")
    for _ in range(3):
        assert (await api.client.get("/v1/school/active-courses", headers=admin)
                ).status_code == 200
    token = await api.token("org-1")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api.app, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        errors = await _visit(f"http://127.0.0.1:{port}", token, tmp_path / "ops.png")
    finally:
        server.should_exit = True
        await serving
        listener.close()
    assert errors == []
    assert (tmp_path / "ops.png").stat().st_size > 10_000


async def _visit(base: str, token: str, screenshot: Path) -> list[str]:
    errors: list[str] = []
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM,
                                               args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1240, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/ops")
            assert page.url.endswith("/ops/login")
            await page.fill("#token", token)
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            alerts = re.findall(r'role="alert">([^<]*)', await page.content())
            assert page.url == f"{base}/ops", (page.url, alerts)
            panels = page.locator("[data-panel]")
            count = await panels.count()
            assert count >= 6
            for i in range(count):
                panel = panels.nth(i)
                number = await panel.locator(".num").inner_text()
                assert NUMBER.search(number), (await panel.get_attribute("data-panel"), number)
            assert await page.locator("#checks tr[data-check]").count() > 5
            assert await page.locator("svg.chart").count() >= 1
            await page.screenshot(path=str(screenshot), full_page=True)
        finally:
            await browser.close()
    return errors
