"""The same dbt project on Spark (target `spark`, over thrift) and on PostgreSQL (target
`default`), from the same generated files: the raw days load with the same counts and rejects,
the marts come out equal row for row, and the tests react the same way.

Days (generated once, written both to a local folder that Spark reads as a file:// root in the
S3 layout, and to the stack's S3 endpoint that the PostgreSQL loaders read):
- D1: a clean day, gzip files (every unit test and data test runs on both targets);
- D2: malformed lines of every kind, CRLF endings, and no advertiser list of its own (both
  engines apply D1's list);
- D3: an empty day (header-only files): its "has recommendations" test fails on both;
- D4: ads_views with 20 % malformed lines: the reject ceiling fails the load on both, with the
  same counts, and Spark's raw day is left unwritten.

Spark's builds take minutes on 2 cores: the fixture builds everything once (PostgreSQL in a
thread beside Spark) and the tests read the results. On Spark, D1 and D3 are built one day a
build and D2 only in the range D1..D2 (a backfill's one build), which must equal PostgreSQL's
build of D2 alone. The days reach dbt as the pipeline passes them (ADTECH_RUN_DATE...), so each
dbt call parses only what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest

from devstack.generate import Options, generate
from devstack.spark import SparkServer
from devstack.storage import LocalFolder
from loaders.errors import RejectThresholdError
from loaders.load import load_day, load_source
from loaders.schema import ensure_schema
from loaders.settings import LoaderSettings
from pipeline.steps.bootstrap import bootstrap
from tests.databases import new_database

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")
D1, D2, D3, D4 = (date(2025, 3, d) for d in (1, 2, 3, 4))
BUILT = {D1: 5001, D2: 5002, D3: 5003}  # the build version of each day's build, both targets
RETRY_VERSION = 5099
RANGE_VERSION = 5100  # D1..D2 in ONE build (a backfill's range) on Spark
# The test an empty day fails (no recommendations for the run date).
EMPTY_DAY_TEST = "assert_run_date_has_recommendations"
# Where each day's Spark marts come from: D2 only from the range.
SPARK_VERSION = {D1: BUILT[D1], D2: RANGE_VERSION, D3: BUILT[D3]}
SOURCES = ("advertiser_ids", "product_views", "ads_views")
COMMON = dict(advertisers=10, active=7, products=60, click_rate=0.05, seed=11)
# The marts' columns compared (all but version); recommendation_changes is a view over the
# days published in PostgreSQL, not built from Spark's side.
MARTS = {
    "top_product": "date, advertiser_id, rank, product_id, views",
    "top_ctr": "date, advertiser_id, rank, product_id, impressions, clicks, ctr, score",
    "recommendations": (
        "date, advertiser_id, model, rank, product_id, score, views, impressions, clicks"
    ),
    "model_coverage": (
        "date, model, active_advertisers, advertisers_with_recommendations, coverage,"
        " avg_list_length"
    ),
    "model_agreement": ("date, advertiser_id, top_ctr_count, top_product_count, overlap, jaccard"),
}


def _generate(folder: Path) -> dict[date, int]:
    """The four days under folder/raw/...; returns the malformed lines written per day."""
    raw = LocalFolder(folder / "raw")
    days = {
        D1: Options(start=D1, days=1, views_per_day=3000, ad_events_per_day=4000, gzip=True),
        D2: Options(
            start=D2,
            days=1,
            views_per_day=3000,
            ad_events_per_day=4000,
            crlf=True,
            malformed=0.005,
        ),
        D3: Options(start=D3, days=1, views_per_day=0, ad_events_per_day=0),
        D4: Options(start=D4, days=1, views_per_day=10, ad_events_per_day=1000, malformed=0.2),
    }
    written = {}
    for day, opts in days.items():
        opts = Options(**{**opts.__dict__, **COMMON})
        written[day] = generate(opts, raw)[0].malformed
    shutil.rmtree(folder / "raw" / "advertiser_ids" / f"date={D2}")  # D2 falls back to D1's
    return written


def _dbt(target: str, target_path: Path, env: dict[str, str], *args: str) -> dict:
    """One dbt command in a subprocess; returns {"rc", "output", "results": {id: status}}."""
    run = subprocess.run(
        [
            DBT,
            *args,
            "--target",
            target,
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path / "logs"),
        ],
        cwd=ROOT,
        env={**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    results = {}
    results_file = target_path / "run_results.json"
    if args[0] == "build" and results_file.exists():
        for r in json.loads(results_file.read_text())["results"]:
            results[r["unique_id"]] = r["status"]
        results_file.unlink()
    return {"rc": run.returncode, "output": run.stdout + run.stderr, "results": results}


def _run_env(day: date, version: int, end: date | None = None) -> dict[str, str]:
    """The run's days and version as the pipeline passes them to dbt (not --vars, which would
    make every call parse the whole project again)."""
    return {
        "ADTECH_RUN_DATE": day.isoformat(),
        "ADTECH_RUN_DATE_END": (end or day).isoformat(),
        "ADTECH_BUILD_VERSION": str(version),
    }


@dataclass
class Built:
    pg_url: str
    spark: SparkServer
    malformed: dict[date, int]
    spark_loads: dict[tuple[date, str], dict] = field(default_factory=dict)
    pg_builds: dict[date, dict] = field(default_factory=dict)
    spark_builds: dict[date, dict] = field(default_factory=dict)
    pg_ceiling: str = ""
    spark_retry: list[dict] = field(default_factory=list)
    spark_range: dict = field(default_factory=dict)
    retry_rows: list[int] = field(default_factory=list)

    def spark_rows(self, query: str) -> list[tuple]:
        conn = self.spark.connect()
        try:
            cur = conn.cursor()
            cur.execute(query)
            return [tuple(_plain(v) for v in row) for row in cur.fetchall()]
        finally:
            conn.close()

    def pg_rows(self, query: str) -> list[tuple]:
        conn = psycopg2.connect(self.pg_url)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                return [tuple(_plain(v) for v in row) for row in cur.fetchall()]
        finally:
            conn.close()


def _plain(value):
    """Comparable across drivers: dates as ISO strings, Decimal as float."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


@pytest.fixture(scope="module")
def built(spark_server: SparkServer, admin_url: str, s3, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("spark-days")
    malformed = _generate(folder)
    bucket = f"spark-{os.getpid()}-{threading.get_ident() % 10000}"
    s3.create_bucket(Bucket=bucket)
    for path in (folder / "raw").rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, path.relative_to(folder).as_posix())

    with new_database(admin_url, prefix="t_spark") as url:
        bootstrap(url)
        conn = psycopg2.connect(url)
        ensure_schema(conn)
        conn.close()
        result = Built(url, spark_server, malformed)
        settings = LoaderSettings(database_url=url, s3_bucket=bucket, s3_prefix="raw/")
        pg_env = {"DATABASE_URL": url}
        spark_env = {**spark_server.env, "ADTECH_SPARK_RAW_ROOT": folder.as_uri()}
        pg_target = tmp_path_factory.mktemp("dbt-pg")
        spark_target = tmp_path_factory.mktemp("dbt-spark")

        def postgres_side() -> None:
            for day in (D1, D2, D3):
                load_day(day, settings=settings, s3_client=s3)
                result.pg_builds[day] = _dbt(
                    "default", pg_target, {**pg_env, **_run_env(day, BUILT[day])}, "build"
                )
            try:
                load_source("ads_views", D4, settings=settings, s3_client=s3)
            except RejectThresholdError as exc:
                result.pg_ceiling = str(exc)

        def spark_load(day: date, source: str) -> dict:
            args = json.dumps({"source": source, "date": day.isoformat()})
            # A target folder per source: parallel dbt processes must not share one.
            return _dbt(
                "spark",
                spark_target / source,
                spark_env,
                "run-operation",
                "load_raw_day",
                "--args",
                args,
            )

        def spark_side() -> None:
            with ThreadPoolExecutor(3) as pool:
                for day in (D1, D2, D3):
                    loads = {s: pool.submit(spark_load, day, s) for s in SOURCES}
                    for source, load in loads.items():
                        result.spark_loads[day, source] = load.result()
                result.spark_loads[D4, "ads_views"] = spark_load(D4, "ads_views")
            # D1: every model, data test and unit test. D3 (empty): the test it fails, and the
            # models that test reads (none of their own tests: indirect selection off).
            empty_day = ("--select", f"+{EMPTY_DAY_TEST}", "--indirect-selection", "empty")
            for day, args in ((D1, ()), (D3, empty_day)):
                env = {**spark_env, **_run_env(day, BUILT[day])}
                result.spark_builds[day] = _dbt("spark", spark_target, env, "build", *args)
            result.spark_range = _dbt(
                "spark", spark_target, {**spark_env, **_run_env(D1, RANGE_VERSION, end=D2)},
                "build", "--exclude-resource-type", "unit_test",
            )  # fmt: skip

            # Write-audit-publish on Spark: a retried build replaces its own (date, version)
            # partition, even when its new batch is empty. (D1, RETRY_VERSION) is first built
            # with rows (its intermediate tables rebuilt for D1), then built alone while they
            # hold D3: refused, naming what to build first, and the partition keeps the first
            # try's rows (never another day's rows, never silent zeros). Once the version is
            # published (Spark's ops.published_days), a build of it is refused.
            def run(select: str, day: date) -> dict:
                env = {**spark_env, **_run_env(day, RETRY_VERSION)}
                result.spark_retry.append(
                    _dbt("spark", spark_target, env, "run", "--select", select)
                )
                return result.spark_retry[-1]

            def retry_rows() -> int:
                return result.spark_rows(
                    f"select count(*) from marts.top_product where date = '{D1}'"
                    f" and version = {RETRY_VERSION}"
                )[0][0]

            run("+top_product", D1)
            result.retry_rows.append(retry_rows())
            run("int_active_advertisers int_product_view_counts", D3)
            run("top_product", D1)
            result.retry_rows.append(retry_rows())
            # (Left in Spark's ops.published_days: no other test uses these dates.)
            result.spark_rows(
                "insert into ops.published_days values "
                f"(date'{D1}', 'test-run', current_timestamp(), {RETRY_VERSION})"
            )
            run("+top_product", D1)

        with ThreadPoolExecutor(2) as pool:
            for side in (pool.submit(postgres_side), pool.submit(spark_side)):
                side.result()
        yield result


def _marts(rows_of, day: date, version: int) -> dict[str, list[tuple]]:
    return {
        mart: sorted(
            rows_of(
                f"select {columns} from marts.{mart} where date = '{day}' and version = {version}"
            ),
            key=repr,
        )
        for mart, columns in MARTS.items()
    }


def test_spark_loads_succeed_and_postgres_builds_pass(built: Built) -> None:
    for (day, _source), load in built.spark_loads.items():
        if day != D4:
            assert load["rc"] == 0, load["output"][-3000:]
    for day in (D1, D2):
        assert built.pg_builds[day]["rc"] == 0, built.pg_builds[day]["output"][-3000:]


def _warned(build: dict) -> set[str]:
    return {k for k, v in build["results"].items() if v == "warn"}


def test_every_unit_test_and_data_test_passes_on_spark(built: Built) -> None:
    for build, on_postgresql in (
        (built.spark_builds[D1], _warned(built.pg_builds[D1])),
        (built.spark_range, _warned(built.pg_builds[D1]) | _warned(built.pg_builds[D2])),
    ):
        failed = {
            k: v
            for k, v in build["results"].items()
            if v not in ("success", "pass", "warn") and not k.startswith("exposure.")
        }
        assert build["rc"] == 0 and not failed, (failed, build["output"][-3000:])
        # The warn-level data-quality test warns on the same days on both targets.
        assert _warned(build) == on_postgresql
    kinds = [unique_id.split(".")[0] for unique_id in built.spark_builds[D1]["results"]]
    # The same nodes as on PostgreSQL (13 models, every data test, every unit test), and the
    # not_null tests of the columns whose nulls PostgreSQL's tables refuse themselves.
    spark, postgres = set(built.spark_builds[D1]["results"]), set(built.pg_builds[D1]["results"])
    assert postgres <= spark
    assert spark - postgres and all(
        node.startswith("test.adtech_recs.not_null_") for node in spark - postgres
    )
    assert kinds.count("unit_test") >= 14 and kinds.count("test") >= 70


def test_rejects_are_counted_the_same(built: Built) -> None:
    manifest = (
        "select date, source, s3_key, rows_loaded, rows_rejected from ops.load_manifest"
        f" where date between '{D1}' and '{D3}' order by date, source, s3_key"
    )
    spark, pg = built.spark_rows(manifest), built.pg_rows(manifest)
    assert spark == pg
    assert sum(row[4] for row in spark) == built.malformed[D2] > 0
    rejects = (
        "select date, source, s3_key, line_number, line, reason from ops.rejected_rows"
        f" where date between '{D1}' and '{D3}' order by date, source, s3_key, line_number"
    )
    spark, pg = built.spark_rows(rejects), built.pg_rows(rejects)
    assert spark == pg
    assert {row[5] for row in spark} >= {
        "wrong_field_count",
        "empty_id",
        "invalid_type",
        "unparsable_date",
        "date_outside_partition",
    }


def test_raw_rows_and_their_lineage_are_the_same(built: Built) -> None:
    for source, columns in (
        ("advertiser_ids", "r.advertiser_id"),
        ("product_views", "r.advertiser_id, r.product_id"),
        ("ads_views", "r.advertiser_id, r.product_id, r.type"),
    ):
        query = (
            f"select r.date, m.s3_key, r.line_number, {columns} from raw.{source} r"
            " join ops.load_manifest m on r.object_id = m.object_id"
            f" and m.date = r.date and m.source = '{source}'"
            f" where r.date between '{D1}' and '{D3}'"
        )
        spark, pg = sorted(built.spark_rows(query)), sorted(built.pg_rows(query))
        assert spark == pg, source
        assert len(spark) > 0


def test_the_advertiser_list_falls_back_to_the_latest_earlier_one(built: Built) -> None:
    query = (
        "select s3_key, rows_loaded from ops.load_manifest"
        f" where date = '{D2}' and source = 'advertiser_ids'"
    )
    spark = built.spark_rows(query)
    assert spark == built.pg_rows(query)
    assert [key for key, _ in spark] == [f"raw/advertiser_ids/date={D1}/generated.csv.gz"]
    listed = f"select count(*) from raw.advertiser_ids where date = '{D2}'"
    assert built.spark_rows(listed) == built.pg_rows(listed) == [(spark[0][1],)]


@pytest.mark.parametrize("day", [D1, D2])
def test_marts_are_equal_row_for_row(built: Built, day: date) -> None:
    spark = _marts(built.spark_rows, day, SPARK_VERSION[day])
    pg = _marts(built.pg_rows, day, BUILT[day])
    for mart in MARTS:
        assert len(pg[mart]) > 0, mart
        assert spark[mart] == pg[mart], mart


def test_a_range_builds_on_spark_what_one_build_per_day_builds(built: Built) -> None:
    """A backfill's range in one build (run_date..run_date_end), on Spark as on PostgreSQL
    (tests/dbt/test_range_builds.py): every day's marts equal a build of that day alone (D1's
    on Spark itself, D2's on PostgreSQL: test_marts_are_equal_row_for_row)."""
    assert built.spark_range["rc"] == 0, built.spark_range["output"][-3000:]
    in_range = _marts(built.spark_rows, D1, RANGE_VERSION)
    alone = _marts(built.spark_rows, D1, BUILT[D1])
    for mart in MARTS:
        assert len(alone[mart]) > 0, mart
        assert in_range[mart] == alone[mart], mart


def test_an_empty_day_fails_its_test_on_both_targets(built: Built) -> None:
    test_id = f"test.adtech_recs.{EMPTY_DAY_TEST}"
    for build in (built.spark_builds[D3], built.pg_builds[D3]):
        assert build["rc"] != 0
        assert build["results"][test_id] == "fail"


def test_the_reject_ceiling_fails_the_day_with_the_same_counts(built: Built) -> None:
    load = built.spark_loads[D4, "ads_views"]
    assert load["rc"] != 0
    counts = built.pg_ceiling.split(": ", 1)[1].split(" (", 1)[0]  # "X of Y lines rejected"
    assert counts.endswith("lines rejected") and f"ads_views {D4}: {counts}" in load["output"]
    assert "nothing was changed" in load["output"]
    assert built.spark_rows(f"select count(*) from raw.ads_views where date = '{D4}'") == [(0,)]


def test_a_retried_build_replaces_its_partition_and_a_published_one_is_refused(
    built: Built,
) -> None:
    first, _, retried, refused = built.spark_retry
    assert first["rc"] == 0, first["output"][-3000:]
    assert built.retry_rows[0] > 0  # the first try wrote rows ...
    # ... the model alone, its inputs holding another day, is refused and changes nothing.
    assert retried["rc"] != 0
    assert "for that day first" in retried["output"], retried["output"][-3000:]
    assert built.retry_rows[1] == built.retry_rows[0]
    assert refused["rc"] != 0
    assert f"version {RETRY_VERSION} of {D1} is published" in refused["output"]
