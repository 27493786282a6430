"""The loaders' settings, from the environment only (DESIGN.md: no secret in files)."""

from __future__ import annotations

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loaders.errors import ConfigError


class LoaderSettings(BaseSettings):
    """`AWS_ENDPOINT_URL_S3` and the AWS credentials are read by boto3 itself."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(validation_alias="DATABASE_URL")
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
    try:
        return LoaderSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"loader settings are incomplete ({problems})") from None
