"""Fixtures for the dbt project's tests: real PostgreSQL databases prepared the way the pipeline
prepares them (pipeline bootstrap + the loaders' raw tables), and dbt run in-process."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt_support import ROOT

from loaders.schema import ensure_schema
from pipeline.steps.bootstrap import bootstrap
from pipeline.steps.transform import environment
from tests.databases import new_database

DbtRun = Callable[..., dbtRunnerResult]

# The run's days and version reach dbt as the pipeline passes them (pipeline/steps/transform.py:
# dbt_env), in environment variables that macros/vars.sql reads at execution only. A new --vars
# value would make dbt parse the whole project again on every call (a few seconds each).
RUN_SETTINGS = {
    "run_date": "ADTECH_RUN_DATE",
    "run_date_end": "ADTECH_RUN_DATE_END",
    "build_version": "ADTECH_BUILD_VERSION",
}


@pytest.fixture(scope="module")
def project_db(admin_url: str, worker_id: str) -> Iterator[str]:
    """A new database shared by one test module (dbt builds are slow: build once, assert many
    times), bootstrapped like a pipeline run; DATABASE_URL points at it meanwhile. Every module
    of a worker gets the same name (made anew, dropped at its end): dbt's partial parsing holds
    only for one connection, so one name lets the next module reuse the parsed project."""
    name = f"t_dbt_project_{worker_id}"
    with new_database(admin_url, name=name) as url, pytest.MonkeyPatch.context() as mp:
        bootstrap(url)
        conn = psycopg2.connect(url)
        ensure_schema(conn)
        conn.close()
        mp.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture(scope="session")
def dbt(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    """Run a dbt command in-process against DATABASE_URL, from the repository's own project and
    profile. Artifacts go to a private target folder (other work may use ./target), one per
    connection and dbt target for the whole session, so that dbt parses the project once for
    each and partially after (partial_parse.msgpack). `run.target` is the last call's folder.

    run_date, run_date_end and build_version go in the environment as the pipeline passes them
    (each one given wins over the environment, as in --vars); `typed=True` passes them in --vars
    instead, as a person types them. Other keywords are vars."""
    root = tmp_path_factory.mktemp("dbt-target")

    def run(*args: str, typed: bool = False, **variables) -> dbtRunnerResult:
        settings: dict[str, str | None] = {}
        if not typed:
            for var, env_name in RUN_SETTINGS.items():
                if var in variables:
                    settings[env_name] = str(variables.pop(var))
            # As with --vars: a run date given alone is one day, whatever the environment says.
            if "ADTECH_RUN_DATE" in settings:
                settings.setdefault("ADTECH_RUN_DATE_END", None)
        target_name = args[args.index("--target") + 1] if "--target" in args else "default"
        key = f"{os.environ.get('DATABASE_URL', '')}|{target_name}".encode()
        target = root / hashlib.sha1(key).hexdigest()[:12]
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
        run.target = target  # type: ignore[attr-defined]
        with environment(settings):
            return dbtRunner().invoke(cli)

    run.target = root  # type: ignore[attr-defined]
    return run
