"""`adtech stack up --spark`, then `adtech run` and `adtech backfill --target spark` end to end, on
the session's standalone cluster, and the backfill DAG on the spark target: the models build on
Spark, the days' serving marts land in PostgreSQL and are published there, and the API answers
exactly what the PostgreSQL target answers for the same input, even though a worker (and its
executor) is killed in the middle of the backfill's build.

The Spark side takes its settings as a newcomer does: `adtech stack up --spark` (here it finds
the session's cluster running and reuses it) and `eval "$(adtech stack env)"`; only the database
and the bucket are the scenario's own. Spark reads the raw days from the stack's file:// root,
which the load refreshes from the S3 bucket (ADTECH_SPARK_RAW_FROM_S3).

Input (generated, seed fixed, in the real S3 endpoint): D1 with malformed lines among good ones
(under the reject ceiling); D2 with no advertiser list of its own (both targets apply D1's) and
events of an advertiser that list does not hold: its sources are ready, its build leaves no
recommendation, and the test that asks for them fails the day on both targets, unpublished; D3
and D4 good days, backfilled in one range. Walk on each target: run D1, run D2, backfill D3..D4;
then, on Spark, D4 again through the backfill DAG (a range of one day: ranges of several days
are the CLI's here and the DAG's on PostgreSQL in tests/dags). On Spark, a watcher kills worker-1 as
soon as a job of the backfill's dbt build (a model or a test, as dbt's query comment says) runs,
and starts it again a few seconds later: Spark retries the lost tasks, or the range fails and
each day runs alone (the pipeline's fallback); either way D1's answers stay as they were and
D3, D4 end up published, equal to PostgreSQL's.

Each target runs the days in a database of its own, both brand-new (on the Spark one, the marts
are created in PostgreSQL by the landing step). The nightly builds' nodes (every model and data
test) end the same on both targets; the raw rows, their lineage and the rejects are the same.
After the walk, on Spark: every unit test passes, and a retried build replaces its own
partition while a published one is refused (write-audit-publish in dbt itself). A range builds
what one build per day builds: on PostgreSQL by tests/pipeline/test_backfill.py, on Spark
through the range's rows here, equal to PostgreSQL's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from devstack.spark_cluster import SparkCluster, jobs
from pipeline.airflow.env import airflow_env, migrate
from tests.api.conftest import settings_for
from tests.cli import ROOT, adtech, why_it_failed
from tests.databases import new_database, spark_rows

D1, D2, D3, D4 = (dt.date(2023, 3, d) for d in (1, 2, 3, 4))
PUBLISHED = (D1, D3, D4)
SOURCES = ("advertiser_ids", "product_views", "ads_views")
HEADERS = {
    "product_views": "advertiser_id,product_id,date",
    "ads_views": "advertiser_id,product_id,type,date",
}
# The serving marts: what the API reads (and recommendation_changes, a view over them).
SERVED = (
    "evaluation_by_advertiser",
    "evaluation_daily",
    "model_agreement",
    "model_coverage",
    "recommendations",
    "top_ctr",
    "top_product",
)
# A job of the dbt build: dbt's query comment names a model or test node (the loads run macros;
# the export is the pipeline's own SQL, with no comment).
BUILD_JOB = re.compile(r'"node_id": "(model|test)\.')
UNLISTED = "ADVUNLISTED"  # D2's only advertiser: on no list
# The test a day without recommendations fails.
EMPTY_DAY_TEST = "assert_run_date_has_recommendations"
DBT = str(Path(sys.executable).parent / "dbt")
RETRY_VERSION = 5099  # the build version of the retried builds after the walk
NULL_VERSION = 5098  # the build version of the build that writes a null after the walk


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def generate(env: dict[str, str], start: dt.date, days: int, *extra: str) -> None:
    adtech(
        env, "generate", "--start", start.isoformat(), "--days", str(days), "--advertisers", "10",
        "--active", "7", "--products", "40", "--views-per-day", "3000",
        "--ad-events-per-day", "4000", "--click-rate", "0.08", "--seed", "12", *extra,
    )  # fmt: skip


def unlisted_events_only(s3, bucket: str, day: dt.date) -> None:
    """D's advertiser list removed (the day takes the latest earlier one) and its events
    replaced by events of an advertiser no list holds."""
    for source in ("advertiser_ids", *HEADERS):
        prefix = f"raw/{source}/date={day}/"
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    lines = {
        "product_views": [f"{UNLISTED},p{i},{day}" for i in range(30)],
        "ads_views": [
            f"{UNLISTED},p{i % 5},{('click', 'impression')[i % 2]},{day}" for i in range(40)
        ],
    }
    for source, header in HEADERS.items():
        body = "\n".join([header, *lines[source]]) + "\n"
        s3.put_object(Bucket=bucket, Key=f"raw/{source}/date={day}/part-0.csv", Body=body.encode())


def walk(env: dict[str, str], during_backfill=None) -> dict:
    """On one target: `adtech run` D1 and D2, then `adtech backfill` D3..D4 (with
    `during_backfill`, a function started in a thread beside it); each step's exit code and
    output, and the API's answers about D1 before and after the backfill."""
    url = env["DATABASE_URL"]
    out: dict = {}
    for day in (D1, D2):
        result = adtech(env, "run", "--date", day.isoformat(), check=False)
        out[day] = (result.returncode, result.stdout + result.stderr)
    out["before"] = answers(url, D1)
    watcher = threading.Thread(target=during_backfill, daemon=True) if during_backfill else None
    if watcher:
        watcher.start()
    result = adtech(
        env, "backfill", "--start", D3.isoformat(), "--end", D4.isoformat(), check=False
    )
    if watcher:
        watcher.join(120)
    out["backfill"] = (result.returncode, result.stdout + result.stderr)
    out["after"] = answers(url, D1)
    out["latest"] = answers(url, D4)
    return out


def backfill_dag(env: dict[str, str], home: Path) -> dict:
    """D4 again, through the backfill DAG on this target (`airflow dags test adtech_backfill -c
    CONF`, dbt through Cosmos): its exit code and output, the versions of D3 and D4 before and
    after it, and the API's answers about D4 after it."""
    url = env["DATABASE_URL"]
    published = "select date, version from ops.published_days where date between %s and %s"
    served = dict(query(url, "select date, version from ops.published_days"))
    dag_env = airflow_env(home=home, base=env)
    migrate(dag_env)
    conf = json.dumps({"start": D4.isoformat(), "end": D4.isoformat()})
    result = subprocess.run(
        ["airflow", "dags", "test", "adtech_backfill", "-c", conf],
        env=dag_env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    return {
        "code": result.returncode,
        "output": result.stdout + result.stderr,
        "before": {day: served[day] for day in (D3, D4) if day in served},
        "served_before": served,
        "after": dict(query(url, published, (D3, D4))),
        "latest": answers(url, D4),
    }


class WorkerKiller:
    """Kills worker-1 (SIGKILL to its process group: the worker and its executor, as a host
    lost) once a build job runs on the Thrift Server, then starts it again."""

    def __init__(self, cluster: SparkCluster, server) -> None:
        self.cluster, self.server = cluster, server
        self.killed_during: str | None = None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and self.killed_during is None:
                running = [
                    j for j in jobs(self.server, "running") if BUILD_JOB.search(j["description"])
                ]
                if running:
                    self.cluster.workers[1].kill()
                    self.killed_during = running[0]["description"][:200]
                    time.sleep(5)
                    self.cluster.restart_worker(1)
                    return
                time.sleep(0.3)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc


def stack_env(stack_dir: Path, base: dict[str, str]) -> dict[str, str]:
    """What a newcomer's shell holds after `adtech stack up --spark` and
    `eval "$(adtech stack env)"` (run as printed, through bash)."""
    env = {**base, "ADTECH_STACK_DIR": str(stack_dir)}
    up = adtech(env, "stack", "up", "--spark", "--no-airflow")
    assert "Spark: cluster spark://" in up.stderr, up.stderr
    shell = subprocess.run(
        ["bash", "-c", 'set -e; eval "$(adtech stack env)"; env -0'],
        env={**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"},
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in shell.stdout.split("\0") if "=" in line)


def answers(url: str, day: dt.date) -> dict[str, object]:
    """Every API answer about `day` (by date and as the latest day), history and stats, for
    every advertiser active on D1; the freshness figures (times of this database's own
    runs) left out."""
    advertisers = [
        a for (a,) in query(url, "select distinct advertiser_id from marts.model_agreement")
    ]
    assert len(advertisers) >= 5
    paths = ["/stats/", "/health/ready"]
    for adv in [*sorted(advertisers), "NOSUCHADVERTISER"]:
        paths.append(f"/history/{adv}/?days=3")
        for model in ("top_ctr", "TopProduct"):
            paths += [
                f"/recommendations/{adv}/{model}",
                f"/recommendations/{adv}/{model}?date={day}",
            ]
    out: dict[str, object] = {}
    with TestClient(create_app(settings_for(url))) as client:
        for path in paths:
            response = client.get(path)
            body = response.json()
            if isinstance(body, dict):
                body.pop("freshness", None)
            if path == "/stats/":
                # The stats aggregate the served rows when asked (avg of float8 jaccards): the
                # sum's last bit follows the rows' physical order, which differs between a
                # COPY and dbt's insert of the same rows. The rows themselves are compared
                # exactly (test_served_rows_are_the_postgresql_targets_row_for_row).
                body = _rounded(body)
            out[path] = (response.status_code, body)
    return out


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_rounded(v) for v in value)
    return value


@pytest.fixture(scope="module")
def both(spark_stack, spark_cluster, spark_server, stack, admin_url, s3, tmp_path_factory):
    """The days through both targets, at the same time (the PostgreSQL target's walk is light
    beside Spark's), each in its own brand-new database; the URLs and each step's outcome."""
    root = tmp_path_factory.mktemp("spark-pipeline")
    bucket = f"spark-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    base = {
        **os.environ,
        **stack.env,
        "ADTECH_S3_BUCKET": bucket,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ADTECH_TASK_RETRIES": "0",
    }
    generate(base, D1, 4, "--malformed", "0.004")  # 0.4 % of event lines: under the ceiling
    unlisted_events_only(s3, bucket, D2)
    newcomer = stack_env(spark_stack.root, base)
    killer = WorkerKiller(spark_cluster, spark_server)
    with (
        new_database(admin_url, prefix="t_pg_target") as pg_url,
        new_database(admin_url, prefix="t_spark_target") as spark_url,
    ):
        pg_env = {**base, "DATABASE_URL": pg_url, "ADTECH_DBT_TARGET": "default"}
        spark_env = {
            **newcomer,
            # The scenario's own database and bucket (the stack's are shared by the session).
            "DATABASE_URL": spark_url,
            "ADTECH_S3_BUCKET": bucket,
            "ADTECH_TASK_RETRIES": "0",
            "ADTECH_DBT_TARGET": "spark",
            # Spark's own partial-parse state, apart from the working tree's.
            "DBT_TARGET_PATH": str(root / "target"),
        }
        with ThreadPoolExecutor(2) as pool:
            pg_walk = pool.submit(walk, pg_env)
            spark_walk = pool.submit(walk, spark_env, killer)
            outcomes = {"default": pg_walk.result(), "spark": spark_walk.result()}
        outcomes["spark"]["dag"] = backfill_dag(spark_env, root / "airflow")
        # What the DAG's build read of the served versions: Spark's copy, made before it built.
        outcomes["spark"]["dag"]["spark_published"] = {
            dt.date.fromisoformat(str(day)): version
            for day, version in spark_rows(
                spark_server, "select date, version from ops.published_days"
            )
        }
        yield {
            "default": pg_url,
            "spark": spark_url,
            "outcomes": outcomes,
            "exports": Path(spark_env["ADTECH_SPARK_EXPORT_ROOT"].removeprefix("file://")),
            "newcomer": newcomer,
            "killer": killer,
            "spark_env": spark_env,
            "target_path": root / "dbt-checks",
        }


def test_each_target_publishes_the_good_days_and_fails_the_one_without_recommendations(both):
    for target in ("default", "spark"):
        outcomes = both["outcomes"][target]
        code, output = outcomes[D1]
        assert code == 0, f"{target} {D1}:\n{output[-3000:]}"
        code, output = outcomes[D2]
        assert code == 1, f"{target} {D2} should fail:\n{output[-3000:]}"
        # D2's sources are ready; its build recommends nothing, and the test that asks for
        # recommendations fails the day.
        assert "are not ready" not in output, output[-3000:]
        assert f"failed nodes: {EMPTY_DAY_TEST}" in output, output[-3000:]
        code, output = outcomes["backfill"]
        assert code == 0, f"{target} backfill:\n{output[-3000:]}"
        assert f"{D3}: published" in output and f"{D4}: published" in output, output[-3000:]
        url = both[target]
        published = query(url, "select date from ops.published_days order by 1")
        assert published == [(d,) for d in PUBLISHED]
        runs = query(url, "select date, status from ops.pipeline_runs")
        assert {d for d, status in runs if status == "success"} == set(PUBLISHED)
        assert (D2, "failed") in runs


def test_the_backfill_dag_on_spark_serves_what_postgresql_serves(both):
    """The backfill DAG on the spark target, end to end: loads, one dbt build on the cluster
    through Cosmos, export, landing and publication of a new version of D4 (D3, outside the
    range, untouched), whose answers are PostgreSQL's."""
    dag = both["outcomes"]["spark"]["dag"]
    assert dag["code"] == 0, why_it_failed(dag["output"])
    assert set(dag["after"]) == set(dag["before"]) == {D3, D4}
    assert dag["after"][D4] > dag["before"][D4], dag
    assert dag["after"][D3] == dag["before"][D3], dag
    # Its build read PostgreSQL's publications, copied into Spark's ops.published_days first:
    # D4's evaluation measures D3's served lists, as PostgreSQL's night does.
    assert dag["spark_published"] == dag["served_before"] != {}, dag
    assert dag["latest"] == both["outcomes"]["default"]["latest"]


def test_the_spark_run_recorded_its_steps_and_landed_every_serving_mart(both):
    url = both["spark"]
    ((steps,),) = query(
        url, "select steps from ops.pipeline_runs where date = %s and status = 'success'", (D1,)
    )
    names = [s["step"] for s in steps]
    assert names[:3] == [f"load_{s}" for s in SOURCES]
    # FiltrarDatos' tables are written by the build itself, under the build lock.
    assert names[3:] == ["FiltrarDatos", "TopCTR", "TopProduct", "DBWriting",
                         "export FiltrarDatos", "export", "publish", "cleanup"]  # fmt: skip
    intermediates = next(s for s in steps if s["step"] == "export FiltrarDatos")
    assert intermediates[str(D1)]["files"]
    export = next(s for s in steps if s["step"] == "export")
    assert set(export["landed"]) == set(SERVED)
    assert export["landed"]["recommendations"] > 0
    # Spark's files of the day, under the stack's export root: every intermediate table and
    # serving mart, as gzip CSV parts.
    ((version,),) = query(url, "select version from ops.published_days where date = %s", (D1,))
    written = both["exports"] / f"date={D1}" / f"version={version}"
    folders = sorted(p.name for p in written.iterdir())
    assert [f for f in folders if f.startswith("marts.")] == sorted(f"marts.{t}" for t in SERVED)
    assert any(f.startswith("intermediate.") for f in folders), folders
    assert list((written / "marts.recommendations").glob("part-*.csv.gz"))


def test_a_newcomers_stack_settings_point_the_spark_target_at_the_cluster(both, spark_server):
    env = both["newcomer"]
    assert env["ADTECH_SPARK_PORT"] == str(spark_server.port)
    assert env["ADTECH_SPARK_MASTER_URL"].startswith("spark://")
    assert env["ADTECH_SPARK_RAW_ROOT"].startswith("file://")
    # The raw days Spark read were refreshed from the bucket into the stack's root.
    raw = Path(env["ADTECH_SPARK_RAW_ROOT"].removeprefix("file://"))
    assert list((raw / "raw" / "ads_views" / f"date={D4}").iterdir())


def served_rows(url: str, table: str) -> list[tuple]:
    """The served versions' rows of a mart, every column but the versions (the row's, and the
    evaluated list's: each database numbers its own builds), in a full order."""
    columns = [
        c
        for (c,) in query(
            url,
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = %s and column_name not like '%%version' order by ordinal_position",
            (table,),
        )
    ]
    listed = ", ".join(f"m.{c}" for c in columns)
    return query(
        url,
        f"select {listed} from marts.{table} m join ops.published_days p using (date, version)"
        f" order by {', '.join(str(i + 1) for i in range(len(columns)))}",
    )


def test_served_rows_are_the_postgresql_targets_row_for_row(both):
    for table in SERVED:
        pg = served_rows(both["default"], table)
        assert pg, table
        # The evaluation marts average float8 ratios: the sum's last bits follow the rows'
        # physical order, which differs between Spark and PostgreSQL (as for /stats/ below).
        assert _rounded(served_rows(both["spark"], table)) == _rounded(pg), table


def test_the_api_answers_the_same_on_both_targets(both):
    for moment, latest in (("after", D4), ("latest", D4)):
        pg, spark = both["outcomes"]["default"][moment], both["outcomes"]["spark"][moment]
        assert pg["/stats/"][0] == 200 and pg["/stats/"][1]["date"] == str(latest)
        assert any(
            body["recommendations"] for path, (code, body) in pg.items()
            if "/recommendations/" in path and code == 200
        )  # fmt: skip
        assert pg["/history/NOSUCHADVERTISER/?days=3"][0] == 404
        assert spark.keys() == pg.keys()
        for path in pg:
            assert spark[path] == pg[path], (moment, path)


def about(answers: dict, day: dt.date) -> dict:
    """The answers asked about `day` by its date."""
    return {path: answer for path, answer in answers.items() if f"date={day}" in path}


def test_a_worker_lost_in_the_backfills_build_left_the_served_day_unchanged(
    both, spark_cluster, spark_server
):
    killer = both["killer"]
    assert killer.error is None, repr(killer.error)
    assert killer.killed_during, "no build job was seen running: the worker was never killed"
    # The executor of the killed worker is lost; the worker is back and its new executor runs.
    from devstack.spark_cluster import executors

    lost = [e for e in executors(spark_server) if e["id"] != "driver" and not e["isActive"]]
    assert lost, "the driver never lost an executor"
    assert len(spark_cluster.alive_workers()) == 2
    # The executors' temporary files are in the cluster's folder (the killed one's stay there).
    assert list((spark_cluster.state_dir / "tmp").glob("liblz4-java-*.so"))
    for target in ("default", "spark"):
        outcome = both["outcomes"][target]
        before, after = about(outcome["before"], D1), about(outcome["after"], D1)
        assert before and any(code == 200 for code, _ in before.values())
        assert after == before, target


def test_rejects_are_counted_the_same(both):
    # Per object, whatever the number of loads each target made of it: the Spark backfill's
    # range may have failed (the lost worker) and loaded its days again alone.
    manifest = (
        "select distinct date, source, s3_key, rows_loaded, rows_rejected from ops.load_manifest"
        " order by 1, 2, 3"
    )
    rejects = (
        "select distinct date, source, s3_key, line_number, line, reason from ops.rejected_rows"
        " order by 1, 2, 3, 4"
    )
    pg_manifest, spark_manifest = query(both["default"], manifest), query(both["spark"], manifest)
    assert spark_manifest == pg_manifest, (
        f"only on Spark: {sorted(set(spark_manifest) - set(pg_manifest))};"
        f" only on PostgreSQL: {sorted(set(pg_manifest) - set(spark_manifest))}"
    )
    assert sum(r[4] for r in pg_manifest if r[0] == D1) > 0, "D1 should have rejects"
    # Every source-day loaded keeps its manifest rows on each target, rejects or not (the raw
    # days are within the retention): the cleanups after D1's run and the backfill drop none,
    # whether the raw rows are PostgreSQL's or Spark's.
    for rows in (pg_manifest, spark_manifest):
        assert {(r[0], r[1]) for r in rows} == {(d, s) for d in (D1, D2, D3, D4) for s in SOURCES}
    # D2 took D1's advertiser list, and its events loaded whole (the build failed the day).
    assert {(r[1], r[2], r[3], r[4]) for r in pg_manifest if r[0] == D2} == {
        ("advertiser_ids", next(r[2] for r in pg_manifest if r[:2] == (D1, SOURCES[0])), 7, 0),
        ("product_views", f"raw/product_views/date={D2}/part-0.csv", 30, 0),
        ("ads_views", f"raw/ads_views/date={D2}/part-0.csv", 40, 0),
    }
    assert query(both["spark"], rejects) == query(both["default"], rejects)


def test_raw_rows_and_their_lineage_are_the_same(both, spark_server):
    for source, columns in (
        ("advertiser_ids", "r.advertiser_id"),
        ("product_views", "r.advertiser_id, r.product_id"),
        ("ads_views", "r.advertiser_id, r.product_id, r.type"),
    ):
        sql = (
            f"select distinct r.date, m.s3_key, r.line_number, {columns}"
            f" from raw.{source} r join ops.load_manifest m on r.object_id = m.object_id"
            f" and m.date = r.date and m.source = '{source}'"
            f" where r.date between date'{D1}' and date'{D4}'"
        )
        spark = sorted(_dated(spark_rows(spark_server, sql)))
        pg = sorted(_dated(query(both["default"], sql.replace("date'", "date '"))))
        assert spark == pg, source
        assert {row[0] for row in spark} == {str(d) for d in (D1, D2, D3, D4)}, source


def _dated(rows: list[tuple]) -> list[tuple]:
    """Rows whose first column is a date, as ISO text (PyHive returns it as text already)."""
    return [(str(row[0]), *row[1:]) for row in rows]


def nightly_nodes(url: str, day: dt.date) -> dict[str, str]:
    """The status of every node of the day's successful night, as its run recorded them."""
    ((steps,),) = query(
        url, "select steps from ops.pipeline_runs where date = %s and status = 'success'", (day,)
    )
    return {n["unique_id"]: n["status"] for s in steps for n in s.get("nodes", [])}


def test_the_nightly_builds_nodes_end_the_same_on_both_targets(both):
    """Every model and data test of D1's night, with the same outcome (the warn-level tests warn
    alike); Spark runs, besides, staging's not_null tests (on PostgreSQL, raw's columns refuse
    a null themselves)."""
    pg, spark = nightly_nodes(both["default"], D1), nightly_nodes(both["spark"], D1)
    assert {node: spark.get(node) for node in pg} == pg
    assert set(pg.values()) <= {"success", "pass", "warn"}, pg
    extra = set(spark) - set(pg)
    assert extra and all(node.startswith("test.adtech_recs.not_null_stg_") for node in extra)
    assert all(spark[node] == "pass" for node in extra)
    kinds = [node.split(".")[0] for node in pg]
    assert kinds.count("model") >= 13 and kinds.count("test") >= 30


def _dbt(env: dict[str, str], target_path: Path, *args: str) -> dict:
    """One dbt command on the spark target, in a process of its own: its exit code, output
    and {node: status} (of a build, run or test)."""
    run = subprocess.run(
        [DBT, *args, "--target", "spark", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
        cwd=ROOT, env={**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    results_file = target_path / "run_results.json"
    results = {}
    if results_file.exists():
        results = {
            r["unique_id"]: r["status"] for r in json.loads(results_file.read_text())["results"]
        }
        results_file.unlink()
    return {"rc": run.returncode, "output": run.stdout + run.stderr, "results": results}


@pytest.fixture(scope="module")
def after_the_walk(both, spark_server):
    """On Spark, once the walk is over, in six dbt invocations: the unit tests; a build of (D1,
    RETRY_VERSION); a mart that writes a null in a not-null column (its input given one by
    hand) fails in its post-hook; then write-audit-publish in dbt itself: a retry of the build,
    top_product alone while its inputs hold another day (D3), is refused, naming what to build
    first, and keeps the first build's rows (never another day's rows, never silent zeros); once
    the version is published (Spark's ops.published_days), a build of it is refused."""
    target = both["target_path"]

    def dbt(day: dt.date, *args: str, version: int = RETRY_VERSION) -> dict:
        env = {
            **both["spark_env"],
            "ADTECH_RUN_DATE": day.isoformat(),
            "ADTECH_RUN_DATE_END": day.isoformat(),
            "ADTECH_BUILD_VERSION": str(version),
        }
        return _dbt(env, target, *args)

    def rows() -> int:
        return spark_rows(
            spark_server,
            f"select count(*) from marts.top_product where date = date'{D1}'"
            f" and version = {RETRY_VERSION}",
        )[0][0]

    out = {"unit": dbt(D1, "test", "--select", "test_type:unit")}
    out["first"] = dbt(D1, "run", "--select", "+top_product")
    out["rows"] = [rows()]
    # The intermediates hold D1 now: one of their rows given a null product.
    spark_rows(
        spark_server,
        "insert into intermediate.int_product_view_counts (run_date, advertiser_id, product_id,"
        " views) select run_date, advertiser_id, null, 1000000"
        " from intermediate.int_product_view_counts limit 1",
    )
    out["null"] = dbt(D1, "run", "--select", "top_product", version=NULL_VERSION)
    dbt(D3, "run", "--select", "int_active_advertisers int_product_view_counts")
    out["alone"] = dbt(D1, "run", "--select", "top_product")
    out["rows"].append(rows())
    # (Left in Spark's ops.published_days: no other test uses this version.)
    spark_rows(
        spark_server,
        "insert into ops.published_days values "
        f"(date'{D1}', 'test-run', current_timestamp(), {RETRY_VERSION})",
    )
    out["published"] = dbt(D1, "run", "--select", "+top_product")
    return out


def test_every_unit_test_passes_on_spark(after_the_walk):
    unit = after_the_walk["unit"]
    assert unit["rc"] == 0, unit["output"][-3000:]
    units = {node: status for node, status in unit["results"].items() if "unit_test." in node}
    assert len(units) >= 14 and set(units.values()) == {"pass"}, unit["results"]


def test_a_retried_build_replaces_its_partition_and_a_published_one_is_refused(after_the_walk):
    first, alone, refused = (after_the_walk[k] for k in ("first", "alone", "published"))
    assert first["rc"] == 0, first["output"][-3000:]
    assert after_the_walk["rows"][0] > 0  # the first build wrote rows ...
    # ... the model alone, its inputs holding another day, is refused and changes nothing.
    assert alone["rc"] != 0
    assert "for that day first" in alone["output"], alone["output"][-3000:]
    assert after_the_walk["rows"][1] == after_the_walk["rows"][0]
    assert refused["rc"] != 0
    assert f"version {RETRY_VERSION} of {D1} is published" in refused["output"]


def test_a_null_in_a_not_null_column_fails_the_model_that_wrote_it(after_the_walk):
    """Spark's tables hold no constraints: the model's post-hook (check_not_null) stands in for
    PostgreSQL's table refusing the row, and names the column."""
    null = after_the_walk["null"]
    assert null["rc"] != 0
    assert null["results"]["model.adtech_recs.top_product"] == "error", null["results"]
    message = "marts.top_product: nulls in not-null columns: product_id (1 rows)"
    assert message in null["output"], null["output"][-3000:]
