"""A run's row in ops.pipeline_runs says whether its version may still be built: the DAG's dbt
producer refuses to build a version that was published, failed or replaced (a cleared producer
alone would otherwise rebuild the served version in place)."""

from __future__ import annotations

import datetime as dt

from pipeline.steps import runs
from pipeline.steps.bootstrap import bootstrap
from pipeline.steps.runs import RunContext

D = dt.date(2024, 11, 20)


def test_a_run_is_open_only_while_its_version_is_being_built(fresh_db: str) -> None:
    bootstrap(fresh_db)
    first = runs.start_run("scheduled__D", D)
    assert runs.still_open(first)
    assert not runs.still_open(RunContext("scheduled__D", D, first.version + 1))
    assert not runs.still_open(RunContext("other", D, first.version))
    runs.finish_run("scheduled__D", "success")
    assert not runs.still_open(first)
    # The DAG run cleared from `start` (a UI Clear, an Airflow backfill's reprocessing): the same
    # run id opens a new version, which may be built; the published one may not.
    again = runs.start_run("scheduled__D", D)
    assert again.version > first.version
    assert runs.still_open(again) and not runs.still_open(first)
    runs.finish_run("scheduled__D", "failed")
    assert not runs.still_open(again)
