"""The reference service's own settings (the library's are `pgkeel.config.Settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoSettings(BaseSettings):
    """`make demo`'s port and sample data: PORT, DEMO_SEED, DEMO_ORGS, DEMO_USERS,
    DEMO_PASSWORD."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    port: int = Field(8000, ge=1, le=65535)
    """The reference service's port on 127.0.0.1 (`make demo`, `python -m pgkeel_apps`)."""
    demo_seed: bool = True
    """Load the sample organizations and users at start-up (COPY; skipped when `org-1` exists)."""
    demo_orgs: int = Field(100, ge=1, le=10_000)
    """Sample organizations `org-1` ... `org-N`."""
    demo_users: int = Field(100_000, ge=3, le=10_000_000)
    """Sample users, spread over the organizations."""
    demo_password: str = Field("pgkeel-demo", min_length=8)
    """The password of every sample account (demo only)."""
