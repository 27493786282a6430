"""One model for one day, right or refused. Each versioned mart built alone for a day
(`dbt build -s model_coverage`) gives the rows the full build gives, reading its upstream marts at
the latest version built for the day; built with `+` it gives them too. When what it reads is not
there for the day (an intermediate table holding another day, an upstream mart never built for
it, or not at the version the build was given), it fails naming the model to build first, and
writes nothing: never a version of zeros.

The day reaches dbt as ADTECH_RUN_DATE (as the pipeline passes it), so one parse serves all."""

from __future__ import annotations

import dbt_scenario as sc
import psycopg2
import pytest
from dbt_support import unversioned_columns

VERSIONED = ["top_ctr", "top_product", "recommendations", "model_coverage", "model_agreement"]
NO_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


def _latest(url: str, table: str, day) -> tuple[int | None, list[tuple]]:
    """The latest version of `table` for `day` and its rows without the version column."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        columns = ", ".join(unversioned_columns(cur, table))
        cur.execute(f"select max(version) from marts.{table} where date = %s", (day,))
        (version,) = cur.fetchone()
        cur.execute(
            f"select {columns} from marts.{table} where date = %s and version = %s", (day, version)
        )
        return version, sorted(cur.fetchall(), key=repr)


def _error(result) -> str:
    return " ".join(str(r.message) for r in (result.result.results if result.result else []))


@pytest.fixture(scope="module")
def builds(project_db: str, dbt) -> dict:
    days = sc.build_days()
    conn = psycopg2.connect(project_db)
    sc.insert_day(conn, days[0])
    sc.insert_day(conn, days[1])
    conn.close()
    day0, day1 = days[0].date, days[1].date
    out: dict = {"url": project_db, "day0": day0, "day1": day1}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADTECH_RUN_DATE", day0.isoformat())
        assert dbt("build", "--selector", "nightly").success
        out["full"] = {m: _latest(project_db, m, day0) for m in VERSIONED}
        out["alone"], out["plus"] = {}, {}
        for mart in VERSIONED:
            result = dbt("build", "-s", mart, *NO_UNIT_TESTS)
            out["alone"][mart] = (result.success, _error(result), *_latest(project_db, mart, day0))
        for mart in VERSIONED:
            result = dbt("build", "-s", f"+{mart}", *NO_UNIT_TESTS)
            out["plus"][mart] = (result.success, _error(result), *_latest(project_db, mart, day0))
        out["before_refusals"] = {m: _latest(project_db, m, day0) for m in VERSIONED}
        # A build given its version (as the pipeline, or one task per model, passes it) reads
        # its upstream marts at that version only: here nobody built version 123.
        mp.setenv("ADTECH_BUILD_VERSION", "123")
        out["given_version"] = dbt("build", "-s", "model_coverage", *NO_UNIT_TESTS)
        mp.delenv("ADTECH_BUILD_VERSION")
        # The intermediate tables now hold day 1; day 0's TopCTR alone cannot be computed.
        mp.setenv("ADTECH_RUN_DATE", day1.isoformat())
        assert dbt("run", "-s", "tag:filtrar_datos").success
        out["coverage_day1"] = dbt("build", "-s", "model_coverage", *NO_UNIT_TESTS)
        mp.setenv("ADTECH_RUN_DATE", day0.isoformat())
        out["top_ctr_day0"] = dbt("build", "-s", "top_ctr", *NO_UNIT_TESTS)
    out["after"] = {m: _latest(project_db, m, day0) for m in VERSIONED}
    return out


@pytest.mark.parametrize("mart", VERSIONED)
def test_a_mart_built_alone_gives_the_full_builds_rows(builds, mart) -> None:
    full_version, full_rows = builds["full"][mart]
    success, error, version, rows = builds["alone"][mart]
    assert success, error
    assert version > full_version  # a new version of its own...
    assert rows == full_rows  # ...with the full build's rows (no zeros)
    assert rows


@pytest.mark.parametrize("mart", VERSIONED)
def test_a_mart_built_with_its_ancestors_gives_the_full_builds_rows(builds, mart) -> None:
    success, error, version, rows = builds["plus"][mart]
    assert success, error
    assert version > builds["alone"][mart][2]
    assert rows == builds["full"][mart][1]


def test_a_mart_whose_inputs_are_not_there_for_the_day_is_refused(builds) -> None:
    day0, day1 = builds["day0"].isoformat(), builds["day1"].isoformat()
    refused = builds["top_ctr_day0"]
    assert not refused.success
    message = _error(refused)
    assert "top_ctr reads" in message and "int_ad_event_counts" in message
    assert "holds another day" in message
    assert f"dbt build -s +top_ctr --vars '{{run_date: {day0}}}'" in message

    coverage = builds["coverage_day1"]
    assert not coverage.success
    message = _error(coverage)
    assert "model_coverage reads" in message and "recommendations" in message
    assert f"for {day1}" in message and "has no rows for them" in message
    assert f"dbt build -s +model_coverage --vars '{{run_date: {day1}}}'" in message

    given = _error(builds["given_version"])
    assert not builds["given_version"].success
    assert "at version 123 (this build's)" in given

    # Refused builds wrote nothing: day 0's latest versions are still the `+` builds'.
    assert builds["after"] == builds["before_refusals"]
    with psycopg2.connect(builds["url"]) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from marts.model_coverage where date = %s", (day1,))
        assert cur.fetchone() == (0,)
