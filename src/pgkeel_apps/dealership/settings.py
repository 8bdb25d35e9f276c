"""The dealership's sample-data settings (`make demo`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DealershipDemoSettings(BaseSettings):
    """How much sample data `make demo` loads into the dealership: DEMO_DEALERS, DEMO_CARS,
    DEMO_LEADS, DEMO_CAR_VIEWS. Loaded with COPY when DEMO_SEED says so (see DemoSettings),
    skipped when `org-1` already has cars."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    demo_dealers: int = Field(1, ge=1, le=100)
    """Sample organizations `org-1` ... `org-N` that get a car inventory."""
    demo_cars: int = Field(5_000, ge=0, le=1_000_000)
    """Cars per dealer, across 40 brands, each with images, features and specifications."""
    demo_leads: int = Field(2_000, ge=0, le=1_000_000)
    """Contact submissions (leads) per dealer."""
    demo_car_views: int = Field(1_000_000, ge=0, le=100_000_000)
    """Car views per dealer over the last 90 days (COPYed into the monthly partitions), with
    the daily aggregates computed from them."""


class ContactSettings(BaseSettings):
    """The public contact form's rate limits: CONTACT_LIMIT submissions per CONTACT_WINDOW_S,
    per client IP and per email address (a Redis sliding window each)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    contact_limit: int = Field(10, ge=1)
    """Submissions allowed per client IP, and per email, within CONTACT_WINDOW_S."""
    contact_window_s: float = Field(600.0, gt=0)
    """The contact form's sliding window, in seconds."""
