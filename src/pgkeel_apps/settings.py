"""The reference service's own settings (the library's are `pgkeel.config.Settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoSettings(BaseSettings):
    """Sample data for `make demo`: DEMO_SEED, DEMO_ORGS, DEMO_USERS, DEMO_PASSWORD."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    demo_seed: bool = True
    demo_orgs: int = Field(100, ge=1, le=10_000)
    demo_users: int = Field(100_000, ge=3, le=10_000_000)
    demo_password: str = Field("pgkeel-demo", min_length=8)
