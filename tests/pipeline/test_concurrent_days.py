"""Two days run at once (a backfill started with several active runs, or two `adtech run`s)
serve exactly what the same days give one after the other.

The intermediate tables hold the current run only, so two builds at once could compute one
day's marts from the other day's rows; each build waits for the one before it
(pipeline/transform.py, an advisory lock of PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import psycopg2

from tests.cli import ROOT, adtech, generate_churning_days

DAYS = (dt.date(2024, 11, 20), dt.date(2024, 11, 21), dt.date(2024, 11, 22))
SERVED = """
    select r.date, r.model, r.advertiser_id, r.rank, r.product_id, r.score, r.views,
           r.impressions, r.clicks
    from marts.recommendations r join ops.published_days p using (date, version)
    order by 1, 2, 3, 4
"""


def served(url: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(SERVED)
        return cur.fetchall()


def test_days_run_at_once_serve_what_they_serve_one_after_the_other(stack, bucket, fresh_db):
    generate_churning_days(DAYS[0], len(DAYS), seed=21)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", "--date", day.isoformat()],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for day in DAYS
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * len(DAYS), "\n".join(outputs)
    at_once = served(fresh_db)
    assert {row[0] for row in at_once} == set(DAYS)

    for day in DAYS:  # the same input, one day after the other: new versions, same rows
        adtech(None, "run", "--date", day.isoformat())
    assert served(fresh_db) == at_once
