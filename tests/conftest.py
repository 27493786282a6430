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

TESTS = Path(__file__).resolve().parent
# Folders whose tests share heavy session state (the Spark cluster, the published marts, the API
# image, the browser): under `pytest -n 3` (what `make test` runs) each runs whole on one worker,
# so that state is made once. Every other test file is a unit of its own (its module-scoped
# fixtures are made once), spread over the workers; tests/dags' files too (each worker migrates
# Airflow's metadata database once, on its own stack).
WHOLE_FOLDERS = ("spark", "api", "browser")
# Rough seconds of the longest units (`--durations`, `pytest -n 3` on the quiet 2-core machine,
# 2026-12-03), used only to order them: the scheduler starts the longest unit first and gives a
# worker the next longest when it runs low (longest processing time first), so the long units
# run side by side, the long files follow and the short ones fill the ends. A unit not listed
# counts SECONDS_PER_TEST for each of its tests.
UNIT_SECONDS = {
    "spark": 650,
    "tests/dags/test_dag_runs.py": 440,
    "tests/dags/test_backfill_dag.py": 440,
    "tests/dags/test_scheduled_runs.py": 345,
    "tests/dags/test_airflow_cli.py": 270,
    "browser": 220,
    "api": 200,
    "tests/pipeline/test_backfill.py": 175,
    "tests/dbt/test_contributing_loop.py": 150,
    "tests/pipeline/test_concurrent_days.py": 140,
    "tests/dags/test_failure_notice.py": 150,
    "tests/dbt/test_sandbox.py": 130,
    "tests/dbt/test_daily_builds.py": 125,
    "tests/pipeline/test_write_audit_publish.py": 120,
    "tests/dbt/test_failures_and_tooling.py": 120,
    "tests/dbt/test_one_model_one_day.py": 115,
    "tests/dbt/test_range_builds.py": 105,
    "tests/dbt/test_plain_dbt_on_a_new_database.py": 80,
    "tests/dbt/test_partial_parsing.py": 75,
    "tests/conventions/test_pre_commit.py": 70,
    "tests/pipeline/test_pandas_baseline.py": 55,
    "tests/dags/test_dag_structure.py": 55,
    "tests/loaders/test_retention_rebuild.py": 50,
    "tests/devstack/test_restart.py": 25,
    "tests/dbt/test_sources_before_the_build.py": 25,
}
SECONDS_PER_TEST = 2


def group_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its folder if that is one of WHOLE_FOLDERS, else its
    file ("tests/dags/test_x.py::test_y[p]" -> "dags")."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in WHOLE_FOLDERS:
        return parts[1]
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's scheduler, with the units of work above, taken in the order the workers collected
    them (longest first, below) rather than xdist's default (most tests first). (`--dist
    loadgroup` reads xdist_group marks through `item._nodeid`, which pytest 9 no longer reads:
    the grouping is done here, in the controller, from the node ids themselves.)"""
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return FolderScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the units in the order of their expected time, longest first (each unit's
    tests keep their order): the scheduler hands them out in this order."""
    if hasattr(config, "workerinput"):
        counts: dict[str, int] = {}
        for item in items:
            counts[group_of(item.nodeid)] = counts.get(group_of(item.nodeid), 0) + 1

        def seconds(unit: str) -> int:
            return UNIT_SECONDS.get(unit, SECONDS_PER_TEST * counts[unit])

        items.sort(key=lambda item: -seconds(group_of(item.nodeid)))


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


@pytest.fixture(scope="session", autouse=True)
def dbt_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dbt's target and log folders for this test run (one per xdist worker), not the checkout's
    ./target and ./logs: two workers' dbt runs never write one manifest or partial-parse file,
    and the suite leaves nothing in the checkout. Every dbt the tests start inherits them."""
    root = tmp_path_factory.mktemp("dbt")
    saved = {k: os.environ.get(k) for k in ("DBT_TARGET_PATH", "DBT_LOG_PATH")}
    os.environ["DBT_TARGET_PATH"] = str(root / "target")
    os.environ["DBT_LOG_PATH"] = str(root / "logs")
    yield root
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


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
