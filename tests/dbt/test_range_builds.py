"""A backfill builds a range of days in ONE dbt invocation (vars run_date..run_date_end, one
version): every versioned mart must hold, day for day, exactly what one build per day gives, with
the default vars and with a CTR window reaching back before the range, a prior and a small top_n.
The range's tests audit every day of it: one bad day fails the whole build."""

from __future__ import annotations

import datetime as dt

import dbt_scenario as sc
import psycopg2
import pytest
from dbt_support import node_statuses, unversioned_columns

VERSIONED = ["top_ctr", "top_product", "recommendations", "model_coverage", "model_agreement"]
NIGHTLY = ("--exclude-resource-type", "unit_test")


@pytest.fixture(scope="module")
def scenario_db(project_db: str) -> str:
    conn = psycopg2.connect(project_db)
    for day in sc.build_days():
        sc.insert_day(conn, day)
    conn.close()
    return project_db


def _version_rows(url: str, version: int) -> dict[str, list[tuple]]:
    """Every versioned mart's rows of `version`, without the version column, sorted."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        out = {}
        for table in VERSIONED:
            columns = ", ".join(unversioned_columns(cur, table))
            cur.execute(f"select {columns} from marts.{table} where version = %s", (version,))
            out[table] = sorted(cur.fetchall(), key=repr)
        return out


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"ctr_window_days": 3, "ctr_prior_impressions": 5, "top_n": 4, "ctr_min_impressions": 2},
    ],
    ids=["defaults", "window-prior-top4"],
)
def test_a_range_build_equals_one_build_per_day(scenario_db: str, dbt, settings: dict) -> None:
    days = sc.DAYS[1:]  # with a 3-day window, the first day's window reaches before the range
    base = 1000 if settings else 2000
    range_version, night_versions = base, [base + 1 + i for i in range(len(days))]
    first, last = days[0].isoformat(), days[-1].isoformat()
    result = dbt(
        "build",
        *NIGHTLY,
        run_date=first,
        run_date_end=last,
        build_version=range_version,
        **settings,
    )
    assert result.success, node_statuses(result)
    for day, version in zip(days, night_versions, strict=True):
        result = dbt("build", *NIGHTLY, run_date=day.isoformat(), build_version=version, **settings)
        assert result.success, node_statuses(result)

    in_range = _version_rows(scenario_db, range_version)
    by_night: dict[str, list[tuple]] = {table: [] for table in VERSIONED}
    for version in night_versions:
        for table, rows in _version_rows(scenario_db, version).items():
            by_night[table] += rows
    assert in_range == {table: sorted(rows, key=repr) for table, rows in by_night.items()}
    # Every day of the range has its lists, and no day outside it.
    assert {row[0] for row in in_range["recommendations"]} == set(days)
    assert {row[0] for row in in_range["model_coverage"]} == set(days)


def test_one_bad_day_fails_the_range_and_names_it(scenario_db: str, dbt) -> None:
    """A day whose active advertisers logged nothing has no recommendations: the range's test
    returns that day (and the range is not published by the pipeline)."""
    bad = dt.date(2024, 11, 30)
    conn = psycopg2.connect(scenario_db)
    sc.insert_day(conn, sc.Day(bad, active=["nobody_logs"]))
    conn.close()
    result = dbt(
        "build", *NIGHTLY, run_date=sc.DAYS[-1].isoformat(), run_date_end=bad.isoformat(),
        build_version=3000,
    )  # fmt: skip
    assert not result.success
    statuses = node_statuses(result)
    assert statuses["assert_run_date_has_recommendations"] == "fail"
    failing = next(
        r for r in result.result.results if r.node.name == "assert_run_date_has_recommendations"
    )
    # The days in between (no data at all) fail too; the scenario's last day does not.
    assert failing.failures == (bad - sc.DAYS[-1]).days


def test_a_range_that_ends_before_it_starts_is_refused(scenario_db: str, dbt) -> None:
    result = dbt(
        "run", "--select", "int_active_advertisers",
        run_date=sc.DAYS[2].isoformat(), run_date_end=sc.DAYS[0].isoformat(),
    )  # fmt: skip
    assert not result.success
    messages = " ".join(str(r.message) for r in result.result.results)
    assert "is before run_date" in messages


def test_a_typed_run_date_ignores_a_range_end_left_in_the_environment(
    scenario_db: str, dbt, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dbt build --vars '{run_date: D}'` builds D alone, whatever ADTECH_RUN_DATE_END says."""
    monkeypatch.setenv("ADTECH_RUN_DATE_END", sc.DAYS[-1].isoformat())
    result = dbt(
        "run", "--select", "int_active_advertisers", run_date=sc.DAYS[0].isoformat(), typed=True
    )
    assert result.success
    with psycopg2.connect(scenario_db) as conn, conn.cursor() as cur:
        cur.execute("select distinct run_date from intermediate.int_active_advertisers")
        assert cur.fetchall() == [(sc.DAYS[0],)]
