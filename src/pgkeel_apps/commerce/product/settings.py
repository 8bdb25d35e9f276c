"""The catalog's sample-data settings (DEMO_PRODUCTS, DEMO_CATALOG_ORGS)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CatalogDemoSettings(BaseSettings):
    """How much sample catalog `make demo` loads (with DEMO_SEED)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    demo_products: int = Field(10_000, ge=0, le=1_000_000)
    """Sample products per catalog organization, in a category tree."""
    demo_catalog_orgs: int = Field(1, ge=0, le=10_000)
    """How many sample organizations (org-1, org-2, ...) get a catalog."""
