"""Two days run at once (a backfill started with several active runs, or two `adtech run`s)
serve and export exactly what the same days give one after the other.

The intermediate tables hold the current run only, so two builds at once could compute one
day's marts from the other day's rows; each build waits for the one before it
(pipeline/steps/transform.py, an advisory lock of PostgreSQL), and exports FiltrarDatos' tables
before it lets the next one start (pipeline.flow.sequence.export_intermediates).

The days one after the other are nights run once for the whole test run, on the same logs
(tests/nights.py: churning_nights); tests/pipeline/test_backfill.py compares a backfill with them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import subprocess
import uuid

import psycopg2

from tests.cli import adtech_process, generate_churning_days
from tests.nights import CHURNING_DAYS, churning_nights

DAYS = tuple(CHURNING_DAYS)
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


def exported_intermediates(s3, bucket: str, day: dt.date) -> dict[str, list[str]]:
    """FiltrarDatos' files exported for `day`: {key: its CSV lines, header first, rows sorted}."""
    prefix = f"intermediate/date={day}/intermediate."
    files = {}
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        lines = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        header, *rows = lines.decode().splitlines()
        files[obj["Key"]] = [header, *sorted(rows)]
    return files


def test_days_run_at_once_serve_what_they_serve_one_after_the_other(
    stack, s3, bucket, fresh_db, admin_url, tmp_path_factory, worker_id
):
    nights = churning_nights(tmp_path_factory, worker_id, stack, s3, admin_url)
    nights.copy_objects(s3, bucket, "raw/")  # the nights' logs, nothing they exported
    runs = [
        adtech_process(
            None,
            "run",
            "--date",
            day.isoformat(),
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
    exported = {day: exported_intermediates(s3, bucket, day) for day in DAYS}
    for day, files in exported.items():
        assert {key.rsplit("/", 1)[1] for key in files} == {
            "intermediate.int_active_advertisers.csv.gz",
            "intermediate.int_product_view_counts.csv.gz",
            "intermediate.int_ad_event_counts.csv.gz",
        }
        advertisers = files[f"intermediate/date={day}/intermediate.int_active_advertisers.csv.gz"]
        assert advertisers[1:], f"{day}: FiltrarDatos exported no active advertiser"

    # The same input, one day after the other: the same rows served, the same files exported.
    one_by_one = f"t-nights-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=one_by_one)
    assert nights.copy_objects(s3, one_by_one, "intermediate/")
    with nights.database(admin_url) as url:
        assert served(url) == at_once
    assert {day: exported_intermediates(s3, one_by_one, day) for day in DAYS} == exported


def test_a_later_build_never_empties_an_earlier_days_exports(stack, s3, bucket, fresh_db):
    """The interleaving that runs at once allow, made certain: day A is built, then day B, and
    only then does A's export step run. FiltrarDatos' tables hold B's day by then; A's were
    exported by A's own build."""
    from pipeline.flow import sequence as steps

    first, second = DAYS[:2]
    generate_churning_days(first, 2, seed=22)
    contexts = [steps.start(f"interleaved__{day}", day) for day in (first, second)]
    for context in contexts:
        steps.load_all(context.day)
        steps.transform_all(context)
    steps.export(contexts[0])

    for day in (first, second):
        files = exported_intermediates(s3, bucket, day)
        header, *rows = files[f"intermediate/date={day}/intermediate.int_active_advertisers.csv.gz"]
        assert rows and {row.split(",")[header.split(",").index("run_date")] for row in rows} == {
            day.isoformat()
        }, f"{day}: {len(rows)} active advertisers exported"
