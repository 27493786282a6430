"""The sandbox target `dev` (profiles.yml): an analyst's `dbt build --target dev` during a night's
`adtech run` builds into schemas of the analyst's own, reads raw and ops from the shared
database, and changes nothing of the night: its run, its marts, what is published and what the
API answers are the same as without it. Then the plain commands with no vars: `DBT_TARGET=dev
dbt build` builds the latest loaded day and writes nothing outside the sandbox; `dbt test`
audits the latest published day and says so. The database carries the YAML's descriptions
(persist_docs).

The days before the night are published once for the whole test run (tests/nights.py:
published_nights, three days up to DAYS[0]); the night of DAYS[1] runs here."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from dbt_support import ROOT, unversioned_columns
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from tests.cli import adtech, pipeline_env
from tests.nights import PUBLISHED_DAYS, PUBLISHED_INPUT, published_nights

DBT = str(Path(sys.executable).parent / "dbt")
# The last published day and the night's: the day after it.
DAYS = [PUBLISHED_DAYS[-1], PUBLISHED_DAYS[-1] + dt.timedelta(days=1)]
# A login name with characters a schema name cannot take: the sandbox is dev_ana_lyst_1_*.
DEV_USER = 'Ana-Lyst."1'
SANDBOX = "dev_ana_lyst__1"
MARTS = ["top_ctr", "top_product", "recommendations", "model_coverage", "model_agreement"]


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _served(url: str) -> dict[str, list[tuple]]:
    """Every versioned mart's served rows (versions included), and the bookkeeping."""
    out = {
        table: sorted(_query(url, f"select m.* from marts.{table} m join ops.published_days p"
                                  " on p.date = m.date and p.version = m.version"), key=repr)
        for table in MARTS
    }  # fmt: skip
    out["published_days"] = _query(url, "select date, version, run_id from ops.published_days")
    return out


def _answers(url: str, day: dt.date) -> dict[tuple[str, str], list]:
    """What the API answers, as its read-only role, for every advertiser and model of `day`."""
    parts = urlsplit(url)
    api_url = urlunsplit(parts._replace(netloc=f"adtech_api@{parts.hostname}:{parts.port}"))
    advertisers = [a for (a,) in _query(
        url, "select distinct advertiser_id from marts.recommendations r join"
             " ops.published_days p using (date, version) where date = %s", (day,))]  # fmt: skip
    assert advertisers
    out = {}
    with TestClient(create_app(Settings(database_url=api_url))) as client:
        for advertiser in advertisers:
            for model in ("top_ctr", "top_product"):
                response = client.get(f"/recommendations/{advertiser}/{model}?date={day}")
                out[(advertiser, model)] = [response.status_code, response.json()]
    return out


def _sandbox_rows(url: str, table: str, day: dt.date) -> list[tuple]:
    """The sandbox's first build of `day` (the one that ran during the night)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        columns = ", ".join(unversioned_columns(cur, table))
        cur.execute(
            f"select {columns} from {SANDBOX}_marts.{table} where date = %s and version ="
            f" (select min(version) from {SANDBOX}_marts.{table} where date = %s)", (day, day)
        )  # fmt: skip
        return sorted(cur.fetchall(), key=repr)


def _writes_outside_the_sandbox(url: str) -> dict[str, tuple]:
    """Rows inserted, updated and deleted so far in every table outside the sandbox."""
    rows = _query(
        url,
        "select schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del"
        " from pg_stat_user_tables where schemaname not like 'dev\\_%%'",
    )
    return {name: counts for name, *counts in rows}


@pytest.fixture(scope="module")
def night(stack, s3, admin_url: str, tmp_path_factory, worker_id: str) -> dict:
    tmp = tmp_path_factory.mktemp("sandbox")
    nights = published_nights(tmp_path_factory, worker_id, stack, s3, admin_url)
    bucket = f"t-sandbox-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    with nights.database(admin_url, prefix="t_sandbox") as url:
        env = pipeline_env(stack.env, url, bucket)
        for name in ("DBT_TARGET", "ADTECH_DBT_TARGET", "ADTECH_RUN_DATE", "ADTECH_BUILD_VERSION"):
            env.pop(name, None)
        nights.copy_objects(s3, bucket, "raw/")
        adtech(env, "generate", "--start", DAYS[1].isoformat(), "--days", "1", *PUBLISHED_INPUT)
        out: dict = {"url": url, "before": _served(url), "answers_before": _answers(url, DAYS[0])}
        out["runs_before"] = _query(url, "select run_id, date, status from ops.pipeline_runs")
        dev_env = {
            **env,
            "ADTECH_DEV_USER": DEV_USER,
            "DBT_TARGET_PATH": str(tmp / "target"),
            "DBT_LOG_PATH": str(tmp / "logs"),
        }
        # The night of DAYS[1] in its own process; once its loads are in, the analyst builds
        # the same day in the sandbox while the night's dbt build runs.
        nightly = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", "--date", DAYS[1].isoformat()],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while _query(url, "select count(distinct source) from ops.load_manifest where date = %s",
                     (DAYS[1],)) != [(3,)]:  # fmt: skip
            assert nightly.poll() is None, nightly.stdout.read()
            assert time.monotonic() < deadline, "the night's loads did not finish"
            time.sleep(0.2)
        out["dev_started"] = _query(url, "select clock_timestamp()")[0][0]
        out["dev"] = subprocess.run(
            [DBT, "build", "--target", "dev", "--vars", f"{{run_date: {DAYS[1]}}}"],
            env=dev_env, cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        out["nightly_output"] = nightly.communicate(timeout=600)[0]
        out["nightly_rc"] = nightly.returncode
        out["after"] = _served(url)
        out["answers_after"] = _answers(url, DAYS[0])
        out["answers_day1"] = _answers(url, DAYS[1])
        out["runs"] = _query(url, "select run_id, date, status, finished_at from ops.pipeline_runs")
        # Plain commands, no vars: the sandbox's build of the latest loaded day, alone, and
        # `dbt test` of what the API serves.
        dev_env.pop("ADTECH_DEV_USER")
        dev_env["USER"] = DEV_USER
        writes = _writes_outside_the_sandbox(url)
        out["plain_build"] = subprocess.run(
            [DBT, "build", "--exclude-resource-type", "unit_test"],
            env={**dev_env, "DBT_TARGET": "dev"}, cwd=ROOT, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        time.sleep(0.6)  # dbt's sessions have ended; their statistics are flushed at exit
        out["writes"] = (writes, _writes_outside_the_sandbox(url))
        out["plain_test"] = subprocess.run(
            [DBT, "test", "--exclude-resource-type", "unit_test"],
            env={k: v for k, v in dev_env.items() if k != "ADTECH_DEV_USER"}, cwd=ROOT,
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        out["descriptions"] = _query(
            url,
            "select obj_description('marts.recommendations'::regclass, 'pg_class'),"
            " col_description('marts.recommendations'::regclass, 2),"
            " col_description('marts.top_ctr'::regclass, 2),"
            " obj_description('intermediate.int_active_advertisers'::regclass, 'pg_class')",
        )[0]
        out["grants"] = _query(
            url,
            "select table_schema || '.' || table_name from information_schema.table_privileges"
            " where grantee = 'adtech_api' and table_schema like 'dev\\_%%'",
        )
        yield out


def test_the_sandbox_build_during_the_night_changes_nothing_of_the_night(night) -> None:
    dev, url = night["dev"], night["url"]
    assert dev.returncode == 0, dev.stdout[-4000:]
    assert night["nightly_rc"] == 0, night["nightly_output"][-4000:]
    # They ran at the same time: the analyst's build started before the night finished.
    runs = {date: (status, finished) for _, date, status, finished in night["runs"]}
    assert runs[DAYS[1]][0] == "success" and night["dev_started"] < runs[DAYS[1]][1]
    # The bookkeeping holds the nights' runs only (the one before each earlier day, this night's);
    # the earlier days are served as before.
    earlier = [(run_id, date, status) for run_id, date, status, _ in night["runs"]
               if date != DAYS[1]]  # fmt: skip
    assert sorted(earlier) == sorted(night["runs_before"]) and DAYS[0] in runs
    assert [date for _, date, _, _ in night["runs"]].count(DAYS[1]) == 1
    before, after = night["before"], night["after"]
    for table in MARTS:
        assert before[table], table
        assert [r for r in after[table] if r[0] != DAYS[1]] == before[table], table
    assert night["answers_after"] == night["answers_before"]
    # The night's second day is what the sandbox computed for it, from the same raw rows, and
    # what the API answers.
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for table in MARTS:
            columns = ", ".join(f"m.{c}" for c in unversioned_columns(cur, table))
            cur.execute(
                f"select {columns} from marts.{table} m join ops.published_days p"
                " on p.date = m.date and p.version = m.version where m.date = %s", (DAYS[1],)
            )  # fmt: skip
            served = sorted(cur.fetchall(), key=repr)
            assert served and served == _sandbox_rows(url, table, DAYS[1]), table
    served_lists = {(a, m): [(r["rank"], r["product_id"]) for r in body["recommendations"]]
                    for (a, m), (_, body) in night["answers_day1"].items()}  # fmt: skip
    sandbox_lists: dict = {}
    for _, advertiser, model, rank, product, *_ in _sandbox_rows(url, "recommendations", DAYS[1]):
        sandbox_lists.setdefault((advertiser, model), []).append((rank, product))
    assert {k: sorted(v) for k, v in sandbox_lists.items()} == {
        k: v for k, v in served_lists.items() if v
    }
    # The sandbox's versions never reach the nightly's marts.
    sandbox_versions = {v for (v,) in _query(url, f"select version from {SANDBOX}_marts.top_ctr")}
    nightly_versions = {v for (v,) in _query(url, "select version from marts.top_ctr")}
    assert sandbox_versions and not sandbox_versions & nightly_versions
    assert night["grants"] == []


def test_plain_commands_without_vars(night) -> None:
    build, test = night["plain_build"], night["plain_test"]
    assert build.returncode == 0, build.stdout[-4000:]
    assert f"dbt build works on the latest loaded day, {DAYS[1]}" in build.stdout
    assert f"{SANDBOX}_marts.recommendations" in build.stdout
    before, after = night["writes"]
    assert after == before, "the sandbox wrote outside its schemas"
    assert test.returncode == 0, test.stdout[-4000:]
    assert f"dbt test audits the latest published day, {DAYS[1]}" in test.stdout
    assert "at the version the API serves" in test.stdout


def test_the_database_carries_the_descriptions(night) -> None:
    table, version, ctr_version, intermediate = night["descriptions"]
    assert table.startswith("Both models' lists, one row per date")
    expected = "The build that wrote the row (microseconds since the epoch when it started)"
    assert version.startswith(expected) and ctr_version == version  # one doc block, two tables
    assert intermediate == "The advertisers active on each run date."
