"""Settings of the Spark target (dbt target `spark`), from the environment only.

The thrift endpoint is the one profiles.yml's `spark` output connects dbt to; the pipeline opens
its own thrift session there to write the day's stage outputs as files (pipeline/spark/serving.py).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SparkSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # A Spark Thrift Server (devstack/spark.py locally; EMR's or a Databricks SQL warehouse's
    # thrift endpoint in production).
    host: str = Field("127.0.0.1", validation_alias="ADTECH_SPARK_HOST")
    port: int = Field(10000, validation_alias="ADTECH_SPARK_PORT")
    user: str = Field("adtech", validation_alias="ADTECH_SPARK_USER")
    # Where Spark writes each run's stage outputs as gzip CSV, as a URI Spark itself can write:
    # `s3a://bucket/prefix/` in production, `file:///path/` locally (hadoop-aws is not
    # installable on every machine). Unset: s3a://$ADTECH_S3_BUCKET/$ADTECH_S3_EXPORT_PREFIX.
    export_root: str | None = Field(None, validation_alias="ADTECH_SPARK_EXPORT_ROOT")


def spark_settings() -> SparkSettings:
    return SparkSettings()
