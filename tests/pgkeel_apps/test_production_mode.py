"""Production: no demo data unless asked, no start while demo accounts exist, /docs and
/metrics off by default."""

from __future__ import annotations

import secrets

import httpx
import pytest
from pydantic import SecretStr

from pgkeel.config import AppEnv
from pgkeel.errors import ConfigError
from pgkeel_apps.main import create_app
from pgkeel_apps.settings import DemoSettings
from tests.pgkeel_apps.conftest import open_api


def test_seeding_defaults_to_development_only(monkeypatch):
    monkeypatch.delenv("DEMO_SEED", raising=False)
    assert DemoSettings().seeds(AppEnv.DEVELOPMENT)
    assert not DemoSettings().seeds(AppEnv.PRODUCTION)
    assert not DemoSettings().seeds(AppEnv.TEST)
    monkeypatch.setenv("DEMO_SEED", "true")
    assert DemoSettings().seeds(AppEnv.PRODUCTION), "an explicit choice wins"


async def test_production_refuses_to_start_while_demo_accounts_exist(pgkeel_settings,
                                                                     monkeypatch):
    async with open_api(pgkeel_settings, monkeypatch):  # seeds org-1 ... org-3 (test env)
        pass
    production = pgkeel_settings.model_copy(update={
        "app_env": AppEnv.PRODUCTION, "cursor_secret": SecretStr(secrets.token_hex(16))})
    monkeypatch.delenv("DEMO_SEED", raising=False)
    app = create_app(production)
    with pytest.raises(ConfigError) as caught:
        async with app.router.lifespan_context(app):
            pass
    assert "demo accounts" in caught.value.message


async def test_docs_and_metrics_are_off_in_production_unless_enabled(pgkeel_settings,
                                                                     monkeypatch):
    production = pgkeel_settings.model_copy(update={
        "app_env": AppEnv.PRODUCTION, "cursor_secret": SecretStr(secrets.token_hex(16))})
    for name in ("EXPOSE_DOCS", "EXPOSE_METRICS", "METRICS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert await _codes(create_app(production)) == [404, 404, 404]
    monkeypatch.setenv("EXPOSE_DOCS", "true")
    monkeypatch.setenv("METRICS_TOKEN", "a-metrics-token")
    assert await _codes(create_app(production)) == [200, 200, 401]


async def _codes(app) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return [(await client.get(path)).status_code
                for path in ("/docs", "/openapi.json", "/metrics")]
