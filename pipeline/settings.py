"""Pipeline settings, from the environment only."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from loaders.settings import LOCAL_STACK_HINT, problems

REPO_ROOT = Path(__file__).resolve().parents[1]


class TargetSettings(BaseSettings):
    """The dbt target that builds the models, readable alone (the DAG's parse needs no database
    URL for it)."""

    model_config = SettingsConfigDict(extra="ignore")

    # `default`: PostgreSQL builds and serves the marts. `spark`: the same dbt models build on a
    # Spark Thrift Server; the day's serving marts are then copied into PostgreSQL and published
    # there (pipeline/spark/serving.py). DBT_TARGET (what dbt itself reads) is honoured too.
    dbt_target: Literal["default", "spark"] = Field(
        "default", validation_alias=AliasChoices("ADTECH_DBT_TARGET", "DBT_TARGET")
    )


def dbt_target() -> str:
    """The configured dbt target (ADTECH_DBT_TARGET, else DBT_TARGET, else `default`)."""
    return TargetSettings().dbt_target


class PipelineSettings(TargetSettings):
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


class SettingsError(RuntimeError):
    """A required setting is missing or invalid: said in one line, naming the variables."""


@lru_cache
def get_settings() -> PipelineSettings:
    try:
        return PipelineSettings()
    except ValidationError as exc:
        raise SettingsError(
            f"pipeline settings are incomplete ({problems(exc)}); {LOCAL_STACK_HINT}"
        ) from None
