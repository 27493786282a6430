"""`dbt build` day after day on crafted raw data: the marts hold exactly what the definitions give
(computed independently in dbt_scenario), a rebuilt day is identical, a new day leaves earlier
days alone, and the data tests and freshness checks react to the data.

Each build writes a new version of its day; the fixture publishes it as the pipeline would (the
latest version of the day in ops.published_days), and snapshots read the served versions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dbt_scenario as sc
import psycopg2
import pytest
from dbt_support import node_statuses, unversioned_columns

MARTS = [
    "top_ctr",
    "top_product",
    "recommendations",
    "model_coverage",
    "model_agreement",
    "recommendation_changes",
]


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every mart's served rows (the published versions; the view reads them itself), sorted,
    without the version column."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        out = {}
        for table in MARTS:
            columns = ", ".join(f"m.{name}" for name in unversioned_columns(cur, table))
            served = (
                ""
                if table == "recommendation_changes"
                else " join ops.published_days p on p.date = m.date and p.version = m.version"
            )
            cur.execute(f"select {columns} from marts.{table} m{served}")
            out[table] = sorted(cur.fetchall(), key=repr)
        return out


def _publish(url: str, day: dt.date) -> None:
    """What the pipeline's publish step does: point the day at its latest built version."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            insert into ops.published_days (date, run_id, version)
            select date, 'dbt-test', max(version) from marts.recommendations
            where date = %s group by date
            on conflict (date) do update set version = excluded.version
            """,
            (day,),
        )


def _rounded(value):
    """Floats rounded (the database computes in its own order), containers walked."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, tuple | list):
        return tuple(_rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _of_date(snapshot: dict[str, list[tuple]], day: dt.date) -> dict[str, list[tuple]]:
    return {t: [r for r in rows if r[0] == day] for t, rows in snapshot.items()}


@dataclass
class Built:
    url: str
    days: list[sc.Day]
    statuses: dict[dt.date, dict[str, str]] = field(default_factory=dict)
    after_day: dict[dt.date, dict[str, list[tuple]]] = field(default_factory=dict)
    expected: dict[dt.date, dict] = field(default_factory=dict)


@pytest.fixture(scope="module")
def built(project_db: str, dbt) -> Built:
    """Load and build the scenario's days in order, keeping a snapshot of the marts after each."""
    state = Built(project_db, sc.build_days())
    conn = psycopg2.connect(project_db)
    for day in state.days:
        sc.insert_day(conn, day)
        result = dbt("build", run_date=day.date.isoformat())
        assert result.success, f"dbt build failed for {day.date}: {result.exception}"
        _publish(project_db, day.date)
        state.statuses[day.date] = node_statuses(result)
        state.after_day[day.date] = _snapshot(project_db)
        state.expected[day.date] = sc.expected_lists(day)
    conn.close()
    return state


def _recommendations(snapshot, day: dt.date) -> dict[tuple[str, str], list[tuple]]:
    lists: dict[tuple[str, str], list[tuple]] = {}
    for date, adv, model, rank, product, score, views, imps, clicks in sorted(
        snapshot["recommendations"], key=lambda r: (r[1], r[2], r[3])
    ):
        if date == day:
            lists.setdefault((adv, model), []).append((rank, product, score, views, imps, clicks))
    return lists


@pytest.mark.parametrize("index", range(len(sc.DAYS)))
def test_recommendations_match_the_definitions(built: Built, index: int) -> None:
    day = built.days[index].date
    actual = _recommendations(built.after_day[day], day)
    expected = built.expected[day]
    assert actual.keys() == expected.keys()
    for key, rows in expected.items():
        assert [r[:2] + r[3:] for r in actual[key]] == [r[:2] + r[3:] for r in rows], key
        assert [r[2] for r in actual[key]] == pytest.approx([r[2] for r in rows]), key


def test_scenario_exercises_what_it_claims(built: Built) -> None:
    """Guards the scenario itself: lists longer than top_n, CTR and view ties, no list for an
    inactive advertiser with events or for an active one without events."""
    first, _, third, last = (built.expected[d.date] for d in built.days)
    assert len(first[("adv_a", "top_product")]) == sc.TOP_N
    assert [r[1] for r in last[("adv_c", "top_product")][:3]] == ["tie_1", "tie_2", "tie_3"]
    hand_made = [r[1] for r in last[("adv_c", "top_ctr")] if r[1].startswith(("half", "zero"))]
    assert hand_made == ["half_a", "half_b", "half_small", "zero_5", "zero_3"]
    assert not any(adv == "adv_b" for adv, _ in last)
    assert not any(adv == "adv_c" for adv, _ in third)
    assert not any(adv == "adv_x" for lists in built.expected.values() for adv, _ in lists)


def test_top_models_agree_with_recommendations(built: Built) -> None:
    snap = built.after_day[sc.DAYS[-1]]
    from_top_ctr = sorted((d, a, "top_ctr", r, p) for d, a, r, p, *_ in snap["top_ctr"])
    from_top_product = sorted((d, a, "top_product", r, p) for d, a, r, p, _ in snap["top_product"])
    in_recommendations = sorted(row[:5] for row in snap["recommendations"])
    assert in_recommendations == sorted(from_top_ctr + from_top_product)


def test_stats_marts_match_the_definitions(built: Built) -> None:
    snap = built.after_day[sc.DAYS[-1]]
    for day in built.days:
        lists = built.expected[day.date]
        coverage = {r[1]: r[2:] for r in snap["model_coverage"] if r[0] == day.date}
        assert _rounded(coverage) == _rounded(sc.expected_coverage(day, lists))
        agreement = {r[1]: r[2:] for r in snap["model_agreement"] if r[0] == day.date}
        assert _rounded(agreement) == _rounded(sc.expected_agreement(day, lists))
        history = {d: built.expected[d] for d in built.expected if d <= day.date}
        changes = {(r[1], r[2]): r[3:] for r in snap["recommendation_changes"] if r[0] == day.date}
        assert _rounded(changes) == _rounded(sc.expected_changes(day, history))


def test_a_new_day_leaves_earlier_days_unchanged(built: Built) -> None:
    final = built.after_day[sc.DAYS[-1]]
    for day in sc.DAYS[:-1]:
        assert _of_date(final, day) == _of_date(built.after_day[day], day), day


def test_a_build_changes_no_served_row_until_published(built: Built, dbt) -> None:
    """A rebuild of day 1 (a backfill) writes a new version beside the served one: every served
    row, the later days' change rows included, stays as it was; published, it serves the same
    content (same input), and the later days' changes are computed against it."""
    before = _snapshot(built.url)
    with psycopg2.connect(built.url) as conn, conn.cursor() as cur:
        cur.execute("select version from ops.published_days where date = %s", (sc.DAYS[0],))
        (served,) = cur.fetchone()
    result = dbt("build", run_date=sc.DAYS[0].isoformat())
    assert result.success
    assert _snapshot(built.url) == before
    _publish(built.url, sc.DAYS[0])
    with psycopg2.connect(built.url) as conn, conn.cursor() as cur:
        cur.execute("select version from ops.published_days where date = %s", (sc.DAYS[0],))
        assert cur.fetchone()[0] > served
    assert _snapshot(built.url) == before


def test_building_a_day_again_gives_identical_marts(built: Built, dbt) -> None:
    before = _snapshot(built.url)
    result = dbt("build", run_date=sc.DAYS[-1].isoformat())
    assert result.success
    _publish(built.url, sc.DAYS[-1])
    assert _snapshot(built.url) == before


def test_clicks_without_impressions_warn_but_do_not_fail(built: Built) -> None:
    assert built.statuses[sc.DAYS[1]]["warn_clicks_without_impressions"] == "warn"
    assert built.statuses[sc.DAYS[0]]["warn_clicks_without_impressions"] == "pass"
    assert "clicked_unseen" not in {r[3] for r in built.after_day[sc.DAYS[1]]["top_ctr"]}


def test_every_test_and_unit_test_ran_and_passed(built: Built) -> None:
    statuses = built.statuses[sc.DAYS[0]]
    assert sum(name.startswith("unique_combination_") for name in statuses) >= 10
    assert {
        "assert_ranks_contiguous_within_top_n",
        "assert_only_active_advertisers_recommended",
    } <= statuses.keys()
    # dbt lists the API's exposure in a build, with nothing to run for it.
    assert {name for name, status in statuses.items() if status == "no-op"} == {"api"}
    assert {status for name, status in statuses.items() if name != "api"} <= {"success", "pass"}


def test_the_api_role_can_read_the_marts(built: Built) -> None:
    with psycopg2.connect(built.url) as conn, conn.cursor() as cur:
        cur.execute("set role adtech_api")
        for table in MARTS:
            cur.execute(f"select count(*) from marts.{table}")
            assert cur.fetchone()[0] > 0, table
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("delete from marts.recommendations")


def test_recommendations_indexes_fit_the_api_queries(built: Built) -> None:
    """The API's lookup (date and served version, advertiser_id, model, order by rank) is the
    primary key's order; its history query (advertiser_id, dates) has an index of its own; the
    top models' build replacement deletes by an indexed (date, version)."""
    with psycopg2.connect(built.url) as conn, conn.cursor() as cur:
        cur.execute("select tablename, indexdef from pg_indexes where schemaname = 'marts'")
        indexes = cur.fetchall()
    definitions = [d for table, d in indexes if table == "recommendations"]
    for table in ("top_ctr", "top_product"):
        assert any(t == table and d.endswith("(date, version)") for t, d in indexes), indexes
    assert any(
        "UNIQUE" in d and d.endswith("(date, version, advertiser_id, model, rank)")
        for d in definitions
    ), definitions
    assert any(d.endswith("(advertiser_id, date)") for d in definitions), definitions


def test_no_run_date_and_no_loaded_day_stops_once_with_a_clear_message(built: Built, dbt) -> None:
    """With no run date, a build works on the latest loaded day (ops.load_manifest); with none
    loaded, it stops in the on-run-start hook, before any node: one message, not one per node."""
    result = dbt("run", "--select", "int_active_advertisers")
    assert not result.success
    assert result.result is None  # no node ran
    message = str(result.exception)
    assert "no run date: pass --vars '{run_date: YYYY-MM-DD}'" in message
    assert message.count("no run date") == 1


def test_malformed_var_fails_with_a_clear_message(built: Built, dbt) -> None:
    result = dbt("run", "--select", "top_product", run_date=sc.DAYS[-1].isoformat(), top_n="ten")
    assert not result.success
    messages = " ".join(str(r.message) for r in result.result.results)
    assert "var 'top_n' must be a whole number >= 1" in messages


def test_source_freshness_reads_the_load_manifest(built: Built, dbt) -> None:
    with psycopg2.connect(built.url) as conn, conn.cursor() as cur:
        for source, age_hours in [("advertiser_ids", 1), ("product_views", 1), ("ads_views", 72)]:
            cur.execute(
                "insert into ops.load_manifest (date, source, s3_key, rows_loaded, rows_rejected,"
                " load_id, started_at, finished_at) values (%s, %s, %s, 1, 0, 'test',"
                " now() - make_interval(hours => %s), now() - make_interval(hours => %s))",
                (sc.DAYS[-1], source, f"raw/{source}/x.csv", age_hours, age_hours),
            )
    result = dbt("source", "freshness", "--select", "source:logs")
    statuses = {
        r.node.name: str(r.status)
        for r in result.result.results
        if r.node.resource_type == "source"  # the on-run-start hook reports too
    }
    assert statuses == {"advertiser_ids": "pass", "product_views": "pass", "ads_views": "error"}
    assert not result.success
