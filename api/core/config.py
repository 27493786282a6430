"""API settings, from the environment only (pydantic-settings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_API_KEY_LENGTH = 16


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
    # Optional API keys (api/security.py). Empty = no check (local use). Comma-separated so that a
    # rotation can accept the old and the new key for a while; in AWS the value is injected by App
    # Runner from a Secrets Manager secret.
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (),
        validation_alias=AliasChoices("ADTECH_API_KEYS", "api_keys"),
        description="comma-separated keys accepted in the X-API-Key header; empty = no check",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            value = [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _long_enough(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(key.get_secret_value()) < MIN_API_KEY_LENGTH for key in keys):
            raise ValueError(f"each API key needs at least {MIN_API_KEY_LENGTH} characters")
        return keys
