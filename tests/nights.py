"""Nights the pipeline runs once per test run, for every test that starts from them.

Some tests need days already published by `adtech run` (a served state to compare with, to break,
to serve). The nights behind such a state are run once, by whichever xdist worker asks first,
under a file lock in the run's shared temporary folder: the database is kept as a `pg_dump`
archive and the bucket's objects as files. Each test then gets its own copy: a new database on
its worker's PostgreSQL restored from the archive, a new bucket holding the objects. (Every
worker has its own stack, so a PostgreSQL template database could not cross workers; an archive
restores in about a second.)

The tests that check what a newcomer gets from nothing, or what hostile input does, run their
own nights and do not use these.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from filelock import FileLock

from devstack.postgres import bin_dir
from tests.cli import adtech, generate_churning_days, pipeline_env
from tests.databases import new_database

# The role the marts are granted to (the dump's grants name it; roles are cluster-wide).
API_ROLE = "adtech_api"
# Settings of the outer shell that would change what a night builds.
UNSET = ("DBT_TARGET", "ADTECH_DBT_TARGET", "ADTECH_RUN_DATE", "ADTECH_BUILD_VERSION")


@dataclass(frozen=True)
class Nights:
    """A published state: the database's archive and the bucket's objects (one file per key)."""

    name: str
    folder: Path

    @property
    def archive(self) -> Path:
        return self.folder / "database.dump"

    @property
    def objects(self) -> Path:
        return self.folder / "objects"

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(
            str(p.relative_to(self.objects))
            for p in self.objects.rglob("*")
            if p.is_file() and str(p.relative_to(self.objects)).startswith(prefix)
        )

    def copy_objects(self, s3, bucket: str, prefix: str = "") -> list[str]:
        """Put the objects whose key starts with `prefix` into `bucket`; returns their keys."""
        keys = self.keys(prefix)
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=(self.objects / key).read_bytes())
        return keys

    def restore(self, url: str) -> None:
        """Restore the archive into the empty database at `url`."""
        _ensure_role(url)
        subprocess.run(
            [str(bin_dir() / "pg_restore"), "--exit-on-error", "--dbname", url, str(self.archive)],
            check=True,
            capture_output=True,
            text=True,
        )

    @contextlib.contextmanager
    def database(self, admin_url: str, prefix: str = "t_nights") -> Iterator[str]:
        """A new database holding the published state, for the block; yields its URL."""
        with new_database(admin_url, prefix=prefix) as url:
            self.restore(url)
            yield url


def _ensure_role(url: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", (API_ROLE,))
            if cur.fetchone() is None:
                # Another database on the same server may make it meanwhile.
                with contextlib.suppress(psycopg2.errors.DuplicateObject):
                    cur.execute(f'create role "{API_ROLE}" login')
    finally:
        conn.close()


def shared_folder(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The folder every worker of this test run sees (xdist gives each its own basetemp)."""
    base = tmp_path_factory.getbasetemp()
    return (base if worker_id == "master" else base.parent) / "published-nights"


def nights_once(
    folder: Path,
    name: str,
    make: Callable[[dict[str, str]], None],
    stack_env: dict[str, str],
    s3,
    admin_url: str,
) -> Nights:
    """The nights `make(env)` runs (env: the pipeline pointed at a new database and bucket), run
    by the first worker that asks and kept; the later askers wait for it and reuse them."""
    folder.mkdir(parents=True, exist_ok=True)
    nights = Nights(name, folder / name)
    with FileLock(str(folder / f"{name}.lock")):
        done = nights.folder / "done"
        if done.exists():
            return nights
        bucket = f"t-nights-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        with new_database(admin_url, prefix="t_nights") as url:
            env = pipeline_env(stack_env, url, bucket)
            for setting in UNSET:
                env.pop(setting, None)
            make(env)
            nights.objects.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [str(bin_dir() / "pg_dump"), "--format=custom", "--file", str(nights.archive), url],
                check=True,
                capture_output=True,
                text=True,
            )
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                path = nights.objects / obj["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        done.write_text("")
    return nights


# ---- the published states ----------------------------------------------------------------------

# Three churning days (tests/cli.py: generate_churning_days), each published by its own night,
# in order: what `adtech backfill` and days run at once must serve and export.
CHURNING_DAYS = [dt.date(2024, 11, 20) + dt.timedelta(days=i) for i in range(3)]
CHURNING_SEED = 5


def _churning_nights(env: dict[str, str]) -> None:
    generate_churning_days(CHURNING_DAYS[0], len(CHURNING_DAYS), seed=CHURNING_SEED)
    for day in CHURNING_DAYS:
        adtech(env, "run", "--date", day.isoformat())


def churning_nights(tmp_path_factory, worker_id: str, stack, s3, admin_url: str) -> Nights:
    """CHURNING_DAYS published one night after the other (raw/ and intermediate/ exports)."""

    def make(env: dict[str, str]) -> None:
        with pytest.MonkeyPatch.context() as mp:  # generate_churning_days reads os.environ
            mp.setenv("DATABASE_URL", env["DATABASE_URL"])
            mp.setenv("ADTECH_S3_BUCKET", env["ADTECH_S3_BUCKET"])
            _churning_nights(env)

    return nights_once(
        shared_folder(tmp_path_factory, worker_id), "churning", make, stack.env, s3, admin_url
    )


# Three days of ten advertisers, all active, and two more on every day's list (extra files in
# the day partitions): NO_ADS with product views but no ad events (no TopCTR list), SILENT with no
# event at all. Published by one night per day: what the API and the pages serve.
PUBLISHED_DAYS = [dt.date(2024, 11, 18), dt.date(2024, 11, 19), dt.date(2024, 11, 20)]
NO_ADS, SILENT = "ZZNOADS0000000000001", "ZZSILENT000000000001"
# `adtech generate`'s arguments for those days (without --start and --days).
PUBLISHED_INPUT = (
    "--advertisers", "10", "--active", "10", "--churn", "0", "--products", "40",
    "--views-per-day", "3000", "--ad-events-per-day", "3000", "--click-rate", "0.1",
    "--seed", "11",
)  # fmt: skip


def published_nights(tmp_path_factory, worker_id: str, stack, s3, admin_url: str) -> Nights:
    """PUBLISHED_DAYS: `adtech generate` writes the logs to S3 (plus the two extra advertisers),
    then `adtech run --date D` (load -> dbt build -> export -> publish) per day."""

    def make(env: dict[str, str]) -> None:
        bucket, prefix = env["ADTECH_S3_BUCKET"], env.get("ADTECH_S3_PREFIX", "raw/")
        start = PUBLISHED_DAYS[0].isoformat()
        adtech(env, "generate", "--start", start, "--days", str(len(PUBLISHED_DAYS)),
               *PUBLISHED_INPUT)  # fmt: skip
        for day in PUBLISHED_DAYS:
            s3.put_object(
                Bucket=bucket,
                Key=f"{prefix}advertiser_ids/date={day}/extra.csv",
                Body=f"advertiser_id\n{NO_ADS}\n{SILENT}\n".encode(),
            )
            views = "".join(f"{NO_ADS},p{i % 7},{day}\n" for i in range(30))
            s3.put_object(
                Bucket=bucket,
                Key=f"{prefix}product_views/date={day}/extra.csv",
                Body=f"advertiser_id,product_id,date\n{views}".encode(),
            )
        for day in PUBLISHED_DAYS:
            adtech(env, "run", "--date", day.isoformat())

    return nights_once(
        shared_folder(tmp_path_factory, worker_id), "published", make, stack.env, s3, admin_url
    )
