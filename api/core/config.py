"""API settings, from the environment only (pydantic-settings)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each is an `ADTECH_API_<NAME>` variable."""

    model_config = SettingsConfigDict(
        env_prefix="ADTECH_API_", env_ignore_empty=True, extra="ignore"
    )

    # The read-only `adtech_api` role's URL; the owner's DATABASE_URL is only a fallback for demos.
    database_url: str = Field(
        validation_alias=AliasChoices("ADTECH_API_DATABASE_URL", "DATABASE_URL"),
        description="postgresql:// URL of the read-only adtech_api role",
    )
    pool_size: int = Field(8, ge=1, le=100, description="database connections kept open")
    pool_wait_seconds: float = Field(
        2.0, gt=0, description="how long a cache miss waits for a free connection before 503"
    )
    cache_max_entries: int = Field(
        20_000, ge=1, description="answers kept in memory (least recently used are dropped)"
    )
    poll_interval_seconds: float = Field(
        2.0, gt=0, description="how often ops.published_days is checked for a new day"
    )
    connect_timeout_seconds: int = Field(
        2, ge=1, description="libpq connect_timeout: how fast a dead database turns into 503"
    )
    statement_timeout_ms: int = Field(2_000, ge=1, description="PostgreSQL statement_timeout")
