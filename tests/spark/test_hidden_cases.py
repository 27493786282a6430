"""The loaders' hidden cases on Spark: one day holding every malformed kind the PostgreSQL loaders
handle (tests/loaders/test_rejects.py, devstack/malformed.py), in objects of every shape they
read (gzip by its bytes whatever the name, a plain object named .gz, CRLF, a BOM, a last line
without line ending, an overlong line, bytes that are not text), loaded by both targets from the
same bytes: PostgreSQL's loaders from the S3 endpoint, the pipeline's Spark load
(pipeline/spark/load.py) from a file:// copy. Spark's raw rows, rejects and manifest counts must
be PostgreSQL's, in Spark's own tables and in the bookkeeping it mirrors into PostgreSQL.

One load per source on each side (dbt run-operation on the session's Spark server, about 15 s
each), compared many ways; then ads_views once more on each side, under a reject ceiling its
rejects exceed: both refuse it with the same counts and keep the day's rows.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import gzip
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest

from devstack.malformed import AD_KINDS, VIEW_KINDS, corrupt
from devstack.spark import SparkServer
from loaders.errors import RejectThresholdError
from loaders.load import load_source
from loaders.schema import ensure_schema
from loaders.settings import LoaderSettings
from pipeline.spark.load import SparkLoadError, load_source_on_spark, run_load_macro
from pipeline.spark.objects import staged_by_content
from pipeline.steps.bootstrap import bootstrap
from tests.cli import adtech
from tests.databases import new_database, spark_rows

DAY = dt.date(2024, 11, 20)
LIST_DAY = DAY - dt.timedelta(days=1)  # advertiser_ids has no list of DAY: both apply this one
SOURCES = ("advertiser_ids", "product_views", "ads_views")
HEADERS = {
    "advertiser_ids": "advertiser_id",
    "product_views": "advertiser_id,product_id,date",
    "ads_views": "advertiser_id,product_id,type,date",
}
MAX_LINE = 1 << 20
# Under the day's share of rejected ads_views lines (about 0.2 %): a load over the ceiling.
LOW_CEILING = 0.001
D = DAY.isoformat()
# Every reason and oddity of tests/loaders/test_rejects.py, as raw bytes.
AD_ODDITIES = [
    b"ADV1,p1,impression",  # wrong_field_count
    b"ADV1,,click," + D.encode(),  # empty_id
    b",p1,click," + D.encode(),
    b"ADV1,p1,hover," + D.encode(),  # invalid_type
    b"ADV1,p1,Click," + D.encode(),
    b"ADV1,p1,click,2024-11-32",  # unparsable_date
    b"ADV1,p1,click,2024-02-30",
    b"ADV1,p1,click,20241120",
    b"ADV1,p1,click," + D.encode() + b" ",
    b"ADV1,p1,click,2024-11-21",  # date_outside_partition
    b'"ADV1",p1,click,' + D.encode(),  # quoted_field
    b'ADV1,"p,1",click,' + D.encode(),
    b"ADV1,p1,click," + D.encode() + b",extra",
    b"",  # an empty line: wrong_field_count
    b"ADV\xff,p1,click," + D.encode(),  # invalid_encoding: not UTF-8
    b"A\x00,p,click," + D.encode(),  # a NUL byte in valid UTF-8
    b"B\\\x00\xc3\xbc\xfe,p,click," + D.encode(),  # backslash, NUL, a valid and a bad byte
    b"A B,p 1,click," + D.encode(),  # valid: spaces, non-ASCII, a tab, a backslash, a CR
    "Ünïcode,€uro,impression,".encode() + D.encode(),
    b"A\tB,p,click," + D.encode(),
    b"A\\B,p,click," + D.encode(),
    b"A\rB,p,click," + D.encode(),
    b"L," + b"p" * (MAX_LINE + 100) + b",click," + D.encode(),  # line_too_long
]
VIEW_ODDITIES = [
    b"ADV1,p1,2023-11-20",
    b"ADV1," + D.encode(),
    b"ADV1,p\x00,\xff" + D.encode(),
    b"ADV1,p1\\," + D.encode(),
]
LIST_ODDITIES = [b"ADV1,ADV2", b"", b"ADV\x00X", b"ADV 9"]


def good(source: str, n: int, start: int = 0) -> list[bytes]:
    if source == "advertiser_ids":
        return [f"ADV{i}".encode() for i in range(start, start + n)]
    if source == "product_views":
        return [f"ADV{i % 7},p{i},{D}".encode() for i in range(start, start + n)]
    kinds = ("click", "impression", "impression")
    return [f"ADV{i % 7},p{i % 40},{kinds[i % 3]},{D}".encode() for i in range(start, start + n)]


def body(source: str, lines: list[bytes], eol: bytes = b"\n", bom: bool = False) -> bytes:
    head = (b"\xef\xbb\xbf" if bom else b"") + HEADERS[source].encode()
    return b"".join(line + eol for line in [head, *lines])


def malformed(source: str, n: int) -> list[bytes]:
    """devstack/malformed.py's kinds, cycled (what the generator injects into a day)."""
    kinds = AD_KINDS if source == "ads_views" else VIEW_KINDS
    items = [b.decode().rsplit(",", 1)[0] for b in good(source, n, start=900)]
    return [corrupt(item, kinds[i % len(kinds)], DAY, "").encode() for i, item in enumerate(items)]


def objects() -> dict[str, bytes]:
    """Every object of the scenario, by key."""
    ads, views = f"raw/ads_views/date={D}/", f"raw/product_views/date={D}/"
    lists = f"raw/advertiser_ids/date={LIST_DAY}/"
    return {
        # The reported case: gzip without .gz, holding a NUL and other bytes.
        ads + "part-0": gzip.compress(body("ads_views", [*good("ads_views", 300), *AD_ODDITIES])),
        ads + "part-1.csv": gzip.compress(
            body("ads_views", [*good("ads_views", 200, 300), *malformed("ads_views", 10)])
        ),  # gzip named .csv
        ads + "part-2.gz": body("ads_views", good("ads_views", 50, 500))[:-1],  # plain, no EOL
        ads + "part-3.csv.gz": gzip.compress(
            body("ads_views", [*good("ads_views", 100, 600), b"X,p,click,2024-11-19"], b"\r\n")
        ),
        ads + "part-4.csv": body(
            "ads_views", [*good("ads_views", 120, 700), *AD_ODDITIES[:16]], b"\r\n", bom=True
        ),
        # Plain and over 2 MB: Spark reads it in parts (the stack's 1 MB splits), the overlong
        # line across a boundary, and still numbers its lines as the loaders do.
        ads + "part-5.csv": body(
            "ads_views",
            [
                *good("ads_views", 20_000, 1000),
                AD_ODDITIES[-1],
                *AD_ODDITIES[:16],
                *good("ads_views", 20_000, 21_000),
                *AD_ODDITIES[:16],
            ],
        ),
        views + "part-0": gzip.compress(
            body("product_views", [*good("product_views", 300), *VIEW_ODDITIES])
        ),
        views + "part-1.csv": body(
            "product_views", [*good("product_views", 100, 300), *malformed("product_views", 8)]
        ),
        lists + "list": gzip.compress(body("advertiser_ids", [*good("advertiser_ids", 7)])),
        lists + "list-2.csv": body("advertiser_ids", [b"ADV7", *LIST_ODDITIES], b"\r\n"),
    }


@dataclass
class Loaded:
    oracle: str  # PostgreSQL's database, loaded by the loaders
    mirror: str  # the Spark side's PostgreSQL, holding the bookkeeping Spark mirrors there
    spark: SparkServer
    folder: Path
    files: dict[str, bytes]
    pg_results: dict[str, object] = field(default_factory=dict)
    spark_results: dict[str, dict] = field(default_factory=dict)
    by_hand: str = ""
    over_ceiling: dict[str, str] = field(default_factory=dict)

    def pg(self, url: str, sql: str) -> list[tuple]:
        with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cur]

    def on_spark(self, sql: str) -> list[tuple]:
        return spark_rows(self.spark, sql)


@pytest.fixture(scope="module")
def loaded(spark_server: SparkServer, admin_url: str, s3, tmp_path_factory) -> Loaded:
    folder = tmp_path_factory.mktemp("hidden-cases")
    files = objects()
    bucket = f"hidden-{os.getpid()}-{threading.get_ident() % 10000}"
    s3.create_bucket(Bucket=bucket)
    for key, data in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
    with (
        new_database(admin_url, prefix="t_hidden_pg") as oracle,
        new_database(admin_url, prefix="t_hidden_spark") as mirror,
        pytest.MonkeyPatch.context() as mp,
    ):
        with contextlib.closing(psycopg2.connect(oracle)) as conn:
            ensure_schema(conn)
        result = Loaded(oracle, mirror, spark_server, folder, files)
        settings = LoaderSettings(
            database_url=oracle, s3_bucket=bucket, s3_prefix="raw/", max_reject_fraction=0.5
        )
        for source in SOURCES:
            result.pg_results[source] = load_source(source, DAY, settings=settings, s3_client=s3)
        for key, value in {
            **spark_server.env,
            "DATABASE_URL": mirror,
            "ADTECH_SPARK_RAW_ROOT": folder.as_uri(),
            "ADTECH_S3_PREFIX": "raw/",
            "ADTECH_MAX_REJECT_FRACTION": "0.5",
            "DBT_TARGET_PATH": str(tmp_path_factory.mktemp("dbt-hidden")),
        }.items():
            mp.setenv(key, value)
        for source in SOURCES:
            result.spark_results[source] = load_source_on_spark(source, DAY)
        # The macro run by hand, without the pipeline's staging: a clear refusal.
        try:
            run_load_macro("product_views", DAY)
        except SparkLoadError as exc:
            result.by_hand = str(exc)
        # The day's ads_views again, under a reject ceiling its rejects exceed: both refuse it.
        mp.setenv("ADTECH_MAX_REJECT_FRACTION", str(LOW_CEILING))
        strict = LoaderSettings(
            database_url=oracle, s3_bucket=bucket, s3_prefix="raw/", max_reject_fraction=LOW_CEILING
        )
        for target, load in (
            ("postgresql", lambda: load_source("ads_views", DAY, settings=strict, s3_client=s3)),
            ("spark", lambda: load_source_on_spark("ads_views", DAY)),
        ):
            try:
                load()
            except (RejectThresholdError, SparkLoadError) as exc:
                result.over_ceiling[target] = str(exc)
        yield result


def test_every_source_day_loads_on_spark_with_postgresqls_counts(loaded: Loaded) -> None:
    for source in SOURCES:
        pg = loaded.pg_results[source]
        spark = loaded.spark_results[source]
        assert (spark["rows_loaded"], spark["rows_rejected"]) == (
            pg.rows_loaded,
            pg.rows_rejected,
        ), source
        assert pg.rows_rejected > 0 and pg.rows_loaded > 0


MANIFEST = (
    "select source, s3_key, size_bytes, rows_loaded, rows_rejected"
    " from ops.load_manifest order by source, s3_key"
)
REJECTS = (
    "select source, s3_key, line_number, line, reason from ops.rejected_rows"
    " order by source, s3_key, line_number"
)


def test_manifest_and_rejects_mirrored_into_postgresql_equal_the_loaders(loaded: Loaded) -> None:
    manifest = loaded.pg(loaded.oracle, MANIFEST)
    assert len(manifest) == len(loaded.files)
    assert loaded.pg(loaded.mirror, MANIFEST) == manifest
    rejects = loaded.pg(loaded.oracle, REJECTS)
    reasons = {r[4] for r in rejects}
    assert reasons == {
        "invalid_encoding", "line_too_long", "quoted_field", "wrong_field_count", "empty_id",
        "invalid_type", "unparsable_date", "date_outside_partition",
    }  # fmt: skip
    assert loaded.pg(loaded.mirror, REJECTS) == rejects


def test_sparks_own_tables_hold_the_same_rejects_and_raw_rows(loaded: Loaded) -> None:
    spark_rejects = loaded.on_spark(
        "select source, s3_key, line_number, line, reason from ops.rejected_rows"
        f" where date = date'{D}' order by source, s3_key, line_number"
    )
    assert spark_rejects == loaded.pg(loaded.oracle, REJECTS)
    for source, columns in (
        ("advertiser_ids", "advertiser_id"),
        ("product_views", "advertiser_id, product_id"),
        ("ads_views", "advertiser_id, product_id, type"),
    ):
        query = (
            f"select m.s3_key, r.line_number, {columns.replace('advertiser_id', 'r.advertiser_id')}"
            f" from raw.{source} r join ops.load_manifest m on m.object_id = r.object_id"
            f" and m.date = r.date and m.source = '{source}' where r.date = date'{D}'"
            " order by 1, 2"
        )
        pg_rows = loaded.pg(loaded.oracle, query.replace("date'", "date '"))
        assert len(pg_rows) == loaded.pg_results[source].rows_loaded
        assert loaded.on_spark(query) == pg_rows, source


def test_bytes_that_are_not_text_are_stored_escaped_and_come_back_exact(loaded: Loaded) -> None:
    """The reported failure: NUL bytes from a gzip object not named .gz. Each invalid_encoding
    line is stored escaped on both targets and decodes to the object's own bytes."""
    stored = loaded.pg(
        loaded.mirror,
        "select s3_key, line_number, decode(line, 'escape') from ops.rejected_rows"
        " where reason = 'invalid_encoding' order by s3_key, line_number",
    )
    assert len(stored) >= 6
    for key, number, raw in stored:
        data = loaded.files[key]
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        line = data.split(b"\n")[number - 1].removesuffix(b"\r")
        assert raw == line, (key, number)
        assert b"\x00" in raw or not _utf8(raw)
        assert (
            codecs.escape_decode(
                loaded.pg(
                    loaded.mirror,
                    f"select line from ops.rejected_rows where s3_key = '{key}'"
                    f" and line_number = {number}",
                )[0][0].encode()
            )[0]
            == raw
        )


def test_the_list_of_an_earlier_day_applies_on_both(loaded: Loaded) -> None:
    keys = {r[1] for r in loaded.pg(loaded.mirror, MANIFEST) if r[0] == "advertiser_ids"}
    assert keys == {k for k in loaded.files if k.startswith(f"raw/advertiser_ids/date={LIST_DAY}/")}


def test_a_misnamed_gzip_object_without_the_pipelines_staging_is_refused_clearly(
    loaded: Loaded,
) -> None:
    assert "raw/product_views/date=2024-11-20/part-0: gzip by its first bytes" in loaded.by_hand
    assert "NUL" not in loaded.by_hand
    # The refused load changed nothing; the pipeline's staging copies are gone.
    assert not list(loaded.folder.glob("_adtech_spark_staging/*"))
    assert loaded.on_spark(f"select count(*) from raw.product_views where date = date'{D}'") == [
        (loaded.pg_results["product_views"].rows_loaded,)
    ]


def test_over_the_reject_ceiling_both_refuse_the_day_with_the_same_counts(loaded: Loaded) -> None:
    """The reject ceiling (ADTECH_MAX_REJECT_FRACTION) fails the load on both targets with the
    same counts, and the rows of the day's earlier load stay on both."""
    pg, spark = loaded.over_ceiling.get("postgresql", ""), loaded.over_ceiling.get("spark", "")
    counts = pg.split(" (", 1)[0]  # "ads_views 2024-11-20: X of Y lines rejected"
    assert counts.startswith(f"ads_views {D}: ") and counts.endswith(" lines rejected"), pg
    assert f"{counts} (" in spark and "nothing was changed" in spark, spark
    rows = loaded.pg_results["ads_views"].rows_loaded
    count = f"select count(*) from raw.ads_views where date = date'{D}'"
    assert loaded.on_spark(count) == [(rows,)]
    assert loaded.pg(loaded.oracle, count.replace("date'", "date '")) == [(rows,)]


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_misnamed_objects_are_staged_by_server_side_copy_on_an_s3_root(s3, bucket, monkeypatch):
    """The pipeline's staging on an s3a:// root (what production reads), against the S3
    endpoint: two bytes read per object, copies named for their bytes, gone after the load."""
    files = {k: v for k, v in objects().items() if "/ads_views/" in k}
    for key, data in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    monkeypatch.delenv("ADTECH_SPARK_RAW_ROOT", raising=False)
    monkeypatch.setenv("ADTECH_S3_BUCKET", bucket)
    monkeypatch.setenv("ADTECH_S3_PREFIX", "raw/")

    def keys() -> set[str]:
        return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}

    with staged_by_content("ads_views", DAY) as staged:
        args = staged.macro_args()
        # One misnamed object: the whole folder is staged (Spark reads folders).
        assert sorted(args["staged_names"].values()) == sorted(k.rsplit("/", 1)[1] for k in files)
        assert args["staged_location"].startswith(f"s3a://{bucket}/_adtech_spark_staging/")
        prefix = args["staged_location"].removeprefix(f"s3a://{bucket}/")
        for copy, original in args["staged_names"].items():
            assert copy.endswith(".gz") == (
                files[f"raw/ads_views/date={D}/{original}"][:2] == b"\x1f\x8b"
            )
            got = s3.get_object(Bucket=bucket, Key=prefix + copy)["Body"].read()
            assert got == files[f"raw/ads_views/date={D}/{original}"]
    assert keys() == set(files)
    # No misnamed object: nothing staged, no argument added.
    with staged_by_content("product_views", DAY) as staged:
        assert staged.macro_args() == {}


OLD = dt.date(1999, 12, 31)  # the cleanup's night: far from every other Spark test's days
DEAD_LOAD = "adtech_scratch.dead_load_lines"


def test_cleanup_on_spark_drops_what_retention_no_longer_keeps(loaded: Loaded, tmp_path) -> None:
    """`adtech cleanup --target spark [--dry-run]`: old raw days, old rejects, manifest rows
    nothing points at, superseded mart versions and their export folders go from Spark, by
    PostgreSQL's rules (raw 7 days, rejects 30, one superseded version kept), and so do the
    scratch tables a killed load left; the served and newer versions and recent days stay. A
    dry run changes nothing."""
    ages = {"raw_old": 30, "raw_new": 1, "rej_old": 60, "rej_new": 20, "served": 11}
    d = {name: OLD - dt.timedelta(days=n) for name, n in ages.items()}
    probe = "marts.cleanup_probe"
    statements = [
        *(
            f"insert into raw.ads_views partition (date = '{d[k]}')"
            " values ('A', 'p', 'click', 1, 2)"
            for k in ("raw_old", "raw_new")
        ),
        *(
            f"insert into ops.rejected_rows partition (date = '{d[k]}', source = 'ads_views')"
            " values ('k', 2, 'x', 'empty_id', 'l', 1)"
            for k in ("rej_old", "rej_new")
        ),
        *(
            f"insert into ops.load_manifest partition (date = '{d[k]}', source = 'ads_views')"
            " values (1, 'k', null, 1, 1, 1, 'l', current_timestamp(), current_timestamp(), null)"
            for k in ("raw_old", "raw_new", "rej_old", "rej_new")
        ),
        f"create table if not exists {probe} (n int, date date, version bigint)"
        " using parquet partitioned by (date, version)",
        *(
            f"insert into {probe} partition (date = '{d['served']}', version = {v}) values ({v})"
            for v in (1, 2, 3, 4)
        ),
        # What a load killed in the middle leaves (dbt_project/macros/load_raw_day.sql).
        "create database if not exists adtech_scratch",
        f"create table {DEAD_LOAD} using parquet as select 1 as row_id",
    ]
    for statement in statements:
        loaded.on_spark(statement)
    exports = tmp_path / "exports"
    for v in (1, 2, 3):
        (exports / f"date={d['served']}" / f"version={v}" / "marts.cleanup_probe").mkdir(
            parents=True
        )
    bootstrap(loaded.mirror)
    with contextlib.closing(psycopg2.connect(loaded.mirror)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "insert into ops.pipeline_runs (run_id, date, status, version) values"
            " ('r1', %(d)s, 'success', 1), ('r2', %(d)s, 'success', 2),"
            " ('r3', %(d)s, 'success', 3)",
            {"d": d["served"]},
        )
        cur.execute(
            "insert into ops.published_days (date, run_id, version) values (%s, 'r3', 3)",
            (d["served"],),
        )
    env = {
        **os.environ,
        "DATABASE_URL": loaded.mirror,
        "ADTECH_SPARK_EXPORT_ROOT": exports.as_uri(),
        "ADTECH_KEEP_SUPERSEDED_VERSIONS": "1",
    }

    def state() -> tuple:
        parts = [
            tuple(r[0] for r in loaded.on_spark(f"show partitions {t}") if "=1999-" in r[0])
            for t in ("raw.ads_views", "ops.rejected_rows", "ops.load_manifest", probe)
        ]
        scratch = [r[1] for r in loaded.on_spark("show tables in adtech_scratch")]
        folders = sorted(p.name for p in exports.glob("date=*/version=*"))
        return (*parts, folders, DEAD_LOAD.split(".")[1] in scratch)

    before = state()
    dry = adtech(env, "cleanup", "--target", "spark", "--dry-run", "--date", str(OLD))
    assert state() == before
    assert "spark:marts.cleanup_probe 1" in dry.stdout, dry.stdout
    assert f"spark:scratch {DEAD_LOAD.split('.')[1]}" in dry.stdout, dry.stdout
    adtech(env, "cleanup", "--target", "spark", "--date", str(OLD))
    raw, rejects, manifest, versions, folders, dead_load_left = state()
    assert not dead_load_left
    assert raw == (f"date={d['raw_new']}",)
    assert rejects == (f"date={d['rej_new']}/source=ads_views",)
    assert sorted(manifest) == sorted(
        f"date={d[k]}/source=ads_views" for k in ("raw_new", "rej_new")
    )
    assert versions == tuple(f"date={d['served']}/version={v}" for v in (2, 3, 4))
    assert folders == ["version=2", "version=3"]
    # An unknown target is one clear line.
    bad = adtech(env, "cleanup", "--target", "sparkle", "--dry-run", check=False)
    assert bad.returncode == 2 and "expected default or spark" in bad.stdout + bad.stderr
