"""The loaders' settings, from the environment only (no secret in files)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loaders.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(validation_alias="DATABASE_URL")


class RetentionSettings(DatabaseSettings):
    """How long the loaders' tables keep a day (loaders/retention.py). Raw days are reloadable
    from S3; a build's CTR window and running runs are kept whatever these say."""

    raw_days: int = Field(7, ge=1, le=3660, validation_alias="ADTECH_RETAIN_RAW_DAYS")
    rejects_days: int = Field(30, ge=1, le=3660, validation_alias="ADTECH_RETAIN_REJECTS_DAYS")
    # How long the cleanup waits for readers of a raw table before giving up (it then fails
    # and is retried; nothing is half-dropped).
    lock_timeout_s: float = Field(
        30.0, gt=0, le=3600, validation_alias="ADTECH_CLEANUP_LOCK_TIMEOUT_S"
    )


class LoaderSettings(DatabaseSettings):
    """`AWS_ENDPOINT_URL_S3` and the AWS credentials are read by boto3 itself."""

    s3_bucket: str = Field(validation_alias="ADTECH_S3_BUCKET")
    s3_prefix: str = Field("raw/", validation_alias="ADTECH_S3_PREFIX")
    max_reject_fraction: float = Field(
        0.01, ge=0.0, le=1.0, validation_alias="ADTECH_MAX_REJECT_FRACTION"
    )

    @field_validator("s3_prefix")
    @classmethod
    def _as_folder(cls, value: str) -> str:
        value = value.lstrip("/")
        return value if value == "" or value.endswith("/") else value + "/"


def get_settings() -> LoaderSettings:
    """The settings, or a ConfigError naming the variables that are missing or wrong."""
    return _read(LoaderSettings)


def get_retention_settings() -> RetentionSettings:
    return _read(RetentionSettings)


# Where a newcomer's settings come from, named in every settings error (the pipeline's too).
LOCAL_STACK_HINT = 'for the local stack: eval "$(adtech stack env)"'


def problems(exc: ValidationError) -> str:
    """A settings ValidationError in one line: each variable and what is wrong with it."""
    return "; ".join(
        f"{'/'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


def _read(cls: type[S]) -> S:
    try:
        return cls()
    except ValidationError as exc:
        raise ConfigError(
            f"loader settings are incomplete ({problems(exc)}); {LOCAL_STACK_HINT}"
        ) from None
