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
    # The read-only role the API connects as; the marts grant it `select`.
    api_role: str = Field(
        "adtech_api", pattern=r"^[a-z_][a-z0-9_]{0,62}$", validation_alias="ADTECH_API_ROLE"
    )
    # Superseded versions of a republished day kept after a publish (for audit or a rollback);
    # the API never reads them.
    keep_superseded_versions: int = Field(
        1, ge=0, le=100, validation_alias="ADTECH_KEEP_SUPERSEDED_VERSIONS"
    )
    # A run still `running` after this long never finished (its process died): the next run
    # marks it failed.
    stale_run_hours: float = Field(6, gt=0, validation_alias="ADTECH_STALE_RUN_HOURS")


@lru_cache
def get_settings() -> PipelineSettings:
    return PipelineSettings()
