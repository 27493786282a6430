"""`make demo`: the whole product on this machine, from nothing to a running API.

1. local stack up (PostgreSQL + S3 endpoint, or the ones DATABASE_URL / AWS_ENDPOINT_URL_S3 name)
2. a week of sample logs written to S3 in the day layout
3. the Airflow DAG run for each day with `airflow dags test` (real tasks, no scheduler)
4. a summary of the published recommendations
5. the API serving the published week, with example requests
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys

import psycopg2
from rich.console import Console
from rich.table import Table

from devstack import stack
from pipeline.airflow.env import airflow_env, dags_test, migrate

console = Console()
START = dt.date.fromisoformat(os.environ.get("DEMO_START", "2024-11-20"))
DAYS = int(os.environ.get("DEMO_DAYS", "7"))
PORT = int(os.environ.get("DEMO_PORT", "8000"))


def _adtech(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipeline", *args], check=True)


def _summary(database_url: str) -> tuple[str, str]:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select p.date, r.model, count(distinct r.advertiser_id), count(*)
            from ops.published_days p join marts.recommendations r using (date, version)
            group by 1, 2 order by 1, 2
            """
        )
        table = Table("date", "model", "advertisers", "rows", title="Published recommendations")
        for row in cur.fetchall():
            table.add_row(*map(str, row))
        console.print(table)
        cur.execute(
            "select advertiser_id from marts.recommendations join ops.published_days"
            " using (date, version) where date = (select max(date) from ops.published_days)"
            " order by advertiser_id limit 1"
        )
        (advertiser,) = cur.fetchone()
        cur.execute("select max(date)::text from ops.published_days")
        return advertiser, cur.fetchone()[0]


def main() -> None:
    console.rule("1. local stack")
    st = stack.up()
    os.environ.update(st.env)
    console.print(
        f"PostgreSQL: {st.env['DATABASE_URL']}\nS3: {st.env.get('AWS_ENDPOINT_URL_S3', 'AWS')}"
        f" bucket {st.env['ADTECH_S3_BUCKET']}\nsettings: {st.env_file}"
    )

    console.rule(f"2. sample logs: {DAYS} days from {START}")
    _adtech("generate", "--start", START.isoformat(), "--days", str(DAYS), "--seed", "42")

    console.rule("3. the Airflow DAG, one run per day (airflow dags test)")
    env = airflow_env(home=st.root / "airflow")
    migrate(env)  # done by stack.up unless the environment names another metadata database
    for offset in range(DAYS):
        day = (START + dt.timedelta(days=offset)).isoformat()
        with console.status(f"adtech_recommendations for {day}"):
            result = dags_test(env, day)
        if result.returncode != 0:
            console.print(result.stdout[-3000:], result.stderr[-3000:])
            raise SystemExit(f"{day}: the DAG run failed (output above)")
        console.print(f"[green]{day}[/]: published")

    console.rule("4. what the API will serve")
    advertiser, latest = _summary(st.env["DATABASE_URL"])

    console.rule("5. the API")
    base = f"http://127.0.0.1:{PORT}"
    for path in (
        f"/recommendations/{advertiser}/top_ctr",
        f"/recommendations/{advertiser}/TopProduct?date={latest}",
        f"/history/{advertiser}/?days=3",
        "/stats/",
        "/health/ready",
    ):
        console.print(f"  curl -s '{base}{path}'", soft_wrap=True)
    console.print(f"In a browser: {base}/ (the latest published day at a glance)", soft_wrap=True)
    console.print(f"  and {base}/docs (interactive API docs; both work offline)", soft_wrap=True)
    console.print(
        "Stop the API with Ctrl-C; `.venv/bin/adtech stack down` then stops the stack.",
        soft_wrap=True,
    )
    # A child process, not exec: this process ran dbt, whose semaphores exec would leak (the
    # multiprocessing resource tracker warns about them). Ctrl-C reaches both; the API exits.
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run([sys.executable, "-m", "pipeline", "serve", "--port", str(PORT)])


if __name__ == "__main__":
    main()
