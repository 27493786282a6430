"""Pipeline settings, from the environment only."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(validation_alias="DATABASE_URL")
    s3_bucket: str = Field(validation_alias="ADTECH_S3_BUCKET")
    export_prefix: str = Field("intermediate/", validation_alias="ADTECH_S3_EXPORT_PREFIX")
    # dbt_project.yml and profiles.yml sit at the repository root.
    dbt_project_dir: Path = Field(REPO_ROOT, validation_alias="ADTECH_DBT_PROJECT_DIR")


@lru_cache
def get_settings() -> PipelineSettings:
    return PipelineSettings()
