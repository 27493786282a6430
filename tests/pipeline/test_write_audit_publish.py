"""Write-audit-publish, end to end: a rerun of a published day never changes an answer until its
new version passed every test, and then replaces the day in one step.

Three days published by `adtech run` on a PostgreSQL of the test's own (it is crashed on
purpose), logs in the real S3 endpoint, and the API on top. Every answer about the day (by date,
by default as the latest day, in history and stats) is recorded, then compared after:
- a rerun whose new input fails a dbt test;
- a rerun killed by an immediate stop of PostgreSQL in the middle of its dbt build;
- a good rerun on new input (answers change, in one step) and a rerun on the same input
  (byte-identical served rows).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2
import pytest

from api.main import create_app
from devstack.postgres import LocalPostgres
from tests.api.conftest import free_port, live_server, settings_for, wait_for
from tests.cli import adtech, adtech_process, pipeline_env

ROOT = Path(__file__).resolve().parents[2]
D1, D2, D3 = dt.date(2024, 11, 18), dt.date(2024, 11, 19), dt.date(2024, 11, 20)
SERVED_ROWS = """
    select r.* from marts.recommendations r join ops.published_days p using (date, version)
    where r.date = %s order by advertiser_id, model, rank
"""


@pytest.fixture
def own_postgres():
    root = Path(tempfile.mkdtemp(prefix="adtech-wap-"))
    pg = LocalPostgres(root / "pg", free_port())
    pg.start()
    yield pg
    pg.destroy()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def env(stack, own_postgres, bucket, tmp_path) -> dict[str, str]:
    return pipeline_env(
        stack.env, own_postgres.url(), bucket, DBT_LOG_PATH=str(tmp_path / "dbt-logs")
    )


def generate(env: dict[str, str], start: dt.date, days: int, events: int = 1500) -> None:
    """Eight advertisers, all active every day; `events` changes the lists, not who is active."""
    adtech(
        env, "generate", "--start", start.isoformat(), "--days", str(days), "--advertisers", "8",
        "--active", "8", "--churn", "0", "--products", "30", "--views-per-day", str(events),
        "--ad-events-per-day", str(events), "--click-rate", "0.1", "--seed", "5",
    )  # fmt: skip


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def publications(url: str) -> list[tuple]:
    return query(url, "select date, run_id, version from ops.published_days order by date")


def answers(http: httpx.Client, base: str, advertisers: list[str]) -> dict[str, dict]:
    """Every answer that depends on D3 (freshness's age is dropped: it ticks)."""
    paths = ["/stats/", "/health/ready"]
    for adv in advertisers:
        paths.append(f"/history/{adv}/?days=3")
        for model in ("top_ctr", "top_product"):
            paths += [
                f"/recommendations/{adv}/{model}",
                f"/recommendations/{adv}/{model}?date={D3}",
            ]
    out = {}
    for path in paths:
        response = http.get(base + path)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        body.get("freshness", {}).pop("age_seconds", None)
        out[path] = body
    return out


def clear_day(s3, bucket: str, day: dt.date) -> None:
    for source in ("advertiser_ids", "product_views", "ads_views"):
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/{source}/date={day}/")
        for obj in listing.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])


def inactive_only(s3, bucket: str, day: dt.date, active: list[str]) -> None:
    """D's input replaced by events of an advertiser that is not active that day."""
    clear_day(s3, bucket, day)
    stranger = "ZZINACTIVE0000000001"
    files = {
        "advertiser_ids": "advertiser_id\n" + "".join(f"{a}\n" for a in active),
        "product_views": "advertiser_id,product_id,date\n"
        + "".join(f"{stranger},p{i},{day}\n" for i in range(50)),
        "ads_views": "advertiser_id,product_id,type,date\n"
        + "".join(f"{stranger},p{i},impression,{day}\n" for i in range(50)),
    }
    for source, body in files.items():
        s3.put_object(Bucket=bucket, Key=f"raw/{source}/date={day}/part-0.csv", Body=body.encode())


def test_reruns_never_change_a_served_answer_until_a_tested_version_is_published(
    env, own_postgres, s3, bucket
):
    url = own_postgres.url()
    generate(env, D1, 3)
    for day in (D1, D2, D3):
        adtech(env, "run", "--date", day.isoformat())
    advertisers = sorted({row[2] for row in query(url, SERVED_ROWS, (D3,))})
    published, served = publications(url), query(url, SERVED_ROWS, (D3,))

    app = create_app(settings_for(url, connect_timeout_seconds=2))
    with live_server(app) as base, httpx.Client(timeout=10) as http:
        before = answers(http, base, advertisers)
        assert before["/stats/"]["date"] == D3.isoformat()

        # 1. The rerun's new input fails a dbt test.
        inactive_only(s3, bucket, D3, advertisers)
        failed = adtech(env, "run", "--date", D3.isoformat(), check=False)
        assert failed.returncode == 1
        assert "assert_run_date_has_recommendations (Got 1 result" in " ".join(
            (failed.stderr + failed.stdout).split()
        )
        # dbt's file log keeps the failure, not the debug chatter of every node (its cost).
        dbt_log = (Path(env["DBT_LOG_PATH"]) / "dbt.log").read_text()
        assert "assert_run_date_has_recommendations" in dbt_log
        assert "Began running node" not in dbt_log
        time.sleep(1)  # several of the API's poll intervals
        assert answers(http, base, advertisers) == before
        assert publications(url) == published
        assert query(url, SERVED_ROWS, (D3,)) == served

        # 2. A good rerun crashes: PostgreSQL stops immediately while dbt builds the new version.
        clear_day(s3, bucket, D3)
        generate(env, D3, 1, events=2500)
        crashing = adtech_process(
            env, "run", "--date", D3.isoformat(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        building = wait_for(
            lambda: _new_version_rows(url, D3, published[-1][2]) or crashing.poll() is not None,
            timeout=300,
            interval=0.2,
        )
        assert building and crashing.poll() is None, "the rerun ended before it wrote marts rows"
        own_postgres.stop("immediate")
        crashing.communicate(timeout=120)
        assert crashing.returncode != 0
        own_postgres.start()
        assert wait_for(lambda: _ready(http, base), timeout=30)
        assert answers(http, base, advertisers) == before
        assert publications(url) == published
        ((crashed_run,),) = query(
            url, "select run_id from ops.pipeline_runs where status = 'running'"
        )

        # 3. The next run of the day closes the crashed one, builds, tests and publishes.
        adtech(env, "run", "--date", D3.isoformat())
        ((status, error),) = query(
            url, "select status, error from ops.pipeline_runs where run_id = %s", (crashed_run,)
        )
        assert status == "failed" and "never finished" in error
        republished = publications(url)
        assert republished[:2] == published[:2] and republished[2][2] > published[2][2]
        new_served = query(url, SERVED_ROWS, (D3,))
        assert new_served != served
        # A night runs the models and their data tests; unit tests run in development and CI.
        nodes = [
            node
            for (steps,) in query(
                url, "select steps from ops.pipeline_runs where run_id = %s", (republished[2][1],)
            )
            for step in steps
            for node in step.get("nodes", [])
        ]
        kinds = {node["unique_id"].split(".")[0] for node in nodes}
        assert {"model", "test"} <= kinds and "unit_test" not in kinds, kinds
        after = wait_for(
            lambda: (a := answers(http, base, advertisers))["/stats/"]["freshness"]["run_id"]
            == republished[2][1] and a,
            timeout=10,
        )  # fmt: skip
        assert after and after != before
        # The new answers are the new version's rows, whole: never a mix of two versions.
        for adv in advertisers:
            for model in ("top_ctr", "top_product"):
                got = after[f"/recommendations/{adv}/{model}"]["recommendations"]
                rows = [r for r in new_served if r[2] == adv and r[3] == model]
                assert [(g["rank"], g["product_id"]) for g in got] == [(r[4], r[5]) for r in rows]

        # 4. The same input again: byte-identical served rows (but for the version itself).
        adtech(env, "run", "--date", D3.isoformat())
        again = query(url, SERVED_ROWS, (D3,))
        assert [r[:1] + r[2:] for r in again] == [r[:1] + r[2:] for r in new_served]
        # Superseded versions are dropped after a publish, but for the one kept by default.
        versions = query(url, "select distinct version from marts.top_ctr where date = %s", (D3,))
        assert len(versions) == 2


def _new_version_rows(url: str, day: dt.date, served_version: int) -> int:
    try:
        return query(
            url, "select count(*) from marts.top_ctr where date = %s and version > %s",
            (day, served_version),
        )[0][0]  # fmt: skip
    except psycopg2.Error:
        return 0


def _ready(http: httpx.Client, base: str) -> bool:
    try:
        return http.get(f"{base}/health/ready").status_code == 200
    except httpx.HTTPError:
        return False
