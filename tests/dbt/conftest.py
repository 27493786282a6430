"""Fixtures for the dbt project's tests: real PostgreSQL databases prepared the way the pipeline
prepares them (pipeline bootstrap + the loaders' raw tables), and dbt run in-process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt_support import ROOT

from loaders.schema import ensure_schema
from pipeline.steps.bootstrap import bootstrap
from tests.databases import new_database

DbtRun = Callable[..., dbtRunnerResult]


@pytest.fixture(scope="module")
def project_db(admin_url: str) -> Iterator[str]:
    """A new database shared by one test module (dbt builds are slow: build once, assert many
    times), bootstrapped like a pipeline run; DATABASE_URL points at it meanwhile."""
    with new_database(admin_url, prefix="t_dbt") as url, pytest.MonkeyPatch.context() as mp:
        bootstrap(url)
        conn = psycopg2.connect(url)
        ensure_schema(conn)
        conn.close()
        mp.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture(scope="module")
def dbt(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    """Run a dbt command in-process against DATABASE_URL, from the repository's own project and
    profile. Artifacts go to a private target folder (other work may use ./target)."""
    target = tmp_path_factory.mktemp("dbt-target")

    def run(*args: str, run_date: str | None = None, **variables) -> dbtRunnerResult:
        if run_date is not None:
            variables["run_date"] = run_date
        cli = [
            *args,
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT),
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
            "--quiet",
        ]
        if variables:
            cli += ["--vars", json.dumps(variables)]
        return dbtRunner().invoke(cli)

    run.target = target  # type: ignore[attr-defined]
    return run
