"""`adtech run --target spark` end to end: the models build on the session's Spark Thrift Server,
the day's serving marts land in PostgreSQL and are published there, and the API answers exactly
what the PostgreSQL target answers for the same input.

Input (generated, seed fixed, in the real S3 endpoint; Spark reads a file:// copy of the same
objects, since s3a:// needs hadoop-aws): D1 with malformed lines among good ones (under the
reject ceiling); D2 empty (the active list, but event files with a header and no line), which
fails the dbt test that a day has recommendations and must not be published. Two days keep the
Spark side to a few minutes (one day costs 1-4 minutes on local[2], by the machine's load).

Each target runs the days in a database of its own, both brand-new (on the Spark one, the marts
are created in PostgreSQL by the landing step).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import settings_for
from tests.cli import adtech
from tests.databases import new_database

D1, D2 = dt.date(2023, 3, 1), dt.date(2023, 3, 2)
DAYS = (D1, D2)
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
# D1 is the scenario's first day: no list of the day before to evaluate, so these stay empty.
EMPTY_ON_D1 = {"evaluation_by_advertiser", "evaluation_daily"}


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


def empty_events(s3, bucket: str, day: dt.date) -> None:
    """D's event files replaced by header-only files (the active list stays)."""
    for source, header in HEADERS.items():
        prefix = f"raw/{source}/date={day}/"
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.put_object(Bucket=bucket, Key=f"{prefix}part-0.csv", Body=f"{header}\n".encode())


def copy_bucket(s3, bucket: str, folder: Path) -> None:
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="raw/").get("Contents", []):
        path = folder / obj["Key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["Key"], str(path))


def walk(env: dict[str, str]) -> dict:
    """`adtech run` for every day in order: each day's exit code and output, and the API's
    answers just before the empty day's run and just after it."""
    url = env["DATABASE_URL"]
    out: dict = {}
    for day in DAYS:
        if day == D2:
            out["before"] = answers(url, D1)
        result = adtech(env, "run", "--date", day.isoformat(), check=False)
        out[day] = (result.returncode, result.stdout + result.stderr)
    out["after"] = answers(url, D1)
    return out


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
    return value


@pytest.fixture(scope="module")
def both(spark_server, stack, admin_url, s3, tmp_path_factory):
    """The days through both targets, at the same time (the PostgreSQL target's walk is light
    beside Spark's), each in its own brand-new database; the URLs and each day's outcome."""
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
    generate(base, D1, 2, "--malformed", "0.004")  # 0.4 % of event lines: under the ceiling
    empty_events(s3, bucket, D2)
    copy_bucket(s3, bucket, root / "files")
    with (
        new_database(admin_url, prefix="t_pg_target") as pg_url,
        new_database(admin_url, prefix="t_spark_target") as spark_url,
    ):
        pg_env = {**base, "DATABASE_URL": pg_url, "ADTECH_DBT_TARGET": "default"}
        spark_env = {
            **base,
            **spark_server.env,
            "DATABASE_URL": spark_url,
            "ADTECH_DBT_TARGET": "spark",
            "ADTECH_SPARK_RAW_ROOT": (root / "files").as_uri(),
            "ADTECH_SPARK_EXPORT_ROOT": (root / "exports").as_uri() + "/",
            # Spark's own partial-parse state, apart from the working tree's.
            "DBT_TARGET_PATH": str(root / "target"),
        }
        with ThreadPoolExecutor(2) as pool:
            pg_walk, spark_walk = pool.submit(walk, pg_env), pool.submit(walk, spark_env)
            outcomes = {"default": pg_walk.result(), "spark": spark_walk.result()}
        yield {"default": pg_url, "spark": spark_url, "outcomes": outcomes, "root": root}


def test_each_target_publishes_the_good_day_and_fails_the_empty_one(both):
    for target in ("default", "spark"):
        outcomes = both["outcomes"][target]
        code, output = outcomes[D1]
        assert code == 0, f"{target} {D1}:\n{output[-3000:]}"
        code, output = outcomes[D2]
        assert code == 1, f"{target} {D2} should fail:\n{output[-3000:]}"
        # D2 has no events: the source check stops it before anything is built.
        assert "the sources of" in output and "are not ready" in output, output[-3000:]
        url = both[target]
        assert query(url, "select date from ops.published_days") == [(D1,)]
        statuses = dict(query(url, "select date, status from ops.pipeline_runs"))
        assert statuses == {D1: "success", D2: "failed"}


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
    # Spark's files of the day: every intermediate table and serving mart, as gzip CSV parts.
    ((version,),) = query(url, "select version from ops.published_days where date = %s", (D1,))
    written = both["root"] / "exports" / f"date={D1}" / f"version={version}"
    folders = sorted(p.name for p in written.iterdir())
    assert [f for f in folders if f.startswith("marts.")] == sorted(f"marts.{t}" for t in SERVED)
    assert any(f.startswith("intermediate.") for f in folders), folders
    assert list((written / "marts.recommendations").glob("part-*.csv.gz"))


def served_rows(url: str, table: str) -> list[tuple]:
    """The served version's rows of a mart, every column but the version (each database numbers
    its own builds), in a full order."""
    columns = [
        c
        for (c,) in query(
            url,
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = %s and column_name <> 'version' order by ordinal_position",
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
        assert bool(pg) != (table in EMPTY_ON_D1), table
        assert served_rows(both["spark"], table) == pg, table


def test_the_api_answers_the_same_on_both_targets(both):
    pg, spark = both["outcomes"]["default"]["after"], both["outcomes"]["spark"]["after"]
    assert pg["/stats/"][0] == 200 and pg["/stats/"][1]["date"] == str(D1)
    assert any(
        body["recommendations"] for path, (code, body) in pg.items() if "/recommendations/" in path
        and code == 200
    )  # fmt: skip
    assert pg["/history/NOSUCHADVERTISER/?days=3"][0] == 404
    assert spark.keys() == pg.keys()
    for path in pg:
        assert spark[path] == pg[path], path


def test_the_failed_empty_day_left_every_answer_unchanged(both):
    for target in ("default", "spark"):
        outcome = both["outcomes"][target]
        assert outcome["after"] == outcome["before"], target


def test_rejects_are_counted_the_same(both):
    manifest = (
        "select date, source, s3_key, rows_loaded, rows_rejected from ops.load_manifest"
        " order by 1, 2, 3"
    )
    rejects = (
        "select date, source, s3_key, line_number, line, reason from ops.rejected_rows"
        " order by 1, 2, 3, 4"
    )
    pg_manifest = query(both["default"], manifest)
    assert query(both["spark"], manifest) == pg_manifest
    assert sum(r[4] for r in pg_manifest if r[0] == D1) > 0, "D1 should have rejects"
    assert all(r[4] == 0 for r in pg_manifest if r[0] != D1)
    assert {r[0] for r in pg_manifest} == {D1, D2}
    assert query(both["spark"], rejects) == query(both["default"], rejects)
