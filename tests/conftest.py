"""Shared fixtures: one real PostgreSQL and one real S3 endpoint (moto server) for the whole run,
started by the project's own stack code; a fresh database and a fresh bucket per test that asks."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest

from devstack import stack as devstack
from tests.databases import new_database

OUTSIDE_SETTINGS = (
    "DATABASE_URL",
    "ADTECH_API_DATABASE_URL",
    "AWS_ENDPOINT_URL_S3",
    "ADTECH_S3_BUCKET",
    "ADTECH_S3_PREFIX",
)


@pytest.fixture(scope="session")
def stack() -> Iterator[devstack.Stack]:
    """The local stack, in a private folder, with its settings exported to os.environ."""
    # mkdtemp's folder is mode 700, as a user's checkout may be: the stack must cope.
    root = Path(tempfile.mkdtemp(prefix="adtech-test-stack-"))
    saved = {k: os.environ.pop(k) for k in OUTSIDE_SETTINGS if k in os.environ}
    # Airflow's metadata database is migrated by the tests that use Airflow, not for every run.
    st = devstack.up(root, airflow_db=False)
    os.environ.update(st.env)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    yield st
    devstack.destroy(root)
    for k in st.env:
        os.environ.pop(k, None)
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def fresh_pipeline_settings() -> Iterator[None]:
    """The pipeline reads its settings once per process (cached): a test that changes the
    environment must not leave its values (a role, a database) to the tests after it."""
    from pipeline.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def admin_url(stack: devstack.Stack) -> str:
    """Superuser URL of the stack's default database."""
    return stack.env["DATABASE_URL"]


@pytest.fixture
def fresh_db(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty database for this test; DATABASE_URL points at it while the test runs."""
    with new_database(admin_url) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture(scope="session")
def s3(stack: devstack.Stack):
    """A boto3 S3 client on the stack's endpoint."""
    return boto3.client(
        "s3",
        endpoint_url=stack.env["AWS_ENDPOINT_URL_S3"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket for this test; ADTECH_S3_BUCKET names it while the test runs."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    monkeypatch.setenv("ADTECH_S3_BUCKET", name)
    return name


@pytest.fixture(scope="session")
def course_dir() -> Path:
    """The course's own input files (read-only), from ../shared beside the repository."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "course-2024"
    assert path.is_dir(), f"course data not found at {path}"
    return path
