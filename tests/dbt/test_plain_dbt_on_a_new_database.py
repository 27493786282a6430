"""The analytics engineer's path on a brand-new database, as the README tells it: `adtech load`,
then plain `dbt build` and `dbt test` from the repository root. Nothing else prepares the
database: dbt's on-run-start creates what the project owns (ops tables, the API's role), with the
grantee taken from ADTECH_API_ROLE (a role no other test has created)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from dbt_support import ROOT

from tests.databases import new_database

BIN = Path(sys.executable).parent
DAY = "2024-11-20"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def newcomer(admin_url, stack, bucket, tmp_path) -> tuple[dict[str, str], str]:
    role = f"api_{uuid.uuid4().hex[:8]}"
    with new_database(admin_url, prefix="t_newcomer") as url:
        env = {
            **os.environ,
            **stack.env,
            "DATABASE_URL": url,
            "ADTECH_S3_BUCKET": bucket,
            "ADTECH_API_ROLE": role,
            "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        yield env, role
    with psycopg2.connect(admin_url) as conn, conn.cursor() as cur:
        cur.execute(f'drop role if exists "{role}"')


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def test_adtech_load_then_plain_dbt_build_and_test(newcomer) -> None:
    env, role = newcomer
    adtech = [str(BIN / "adtech")]
    generated = _run([*adtech, "generate", "--start", DAY, "--days", "1", "--seed", "3"], env)
    assert generated.returncode == 0, generated.stderr[-2000:]
    loaded = _run([*adtech, "load", "--date", DAY], env)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert not _query(env["DATABASE_URL"], "select 1 from pg_roles where rolname = %s", (role,))

    built = _run([str(BIN / "dbt"), "build", "--vars", f"{{run_date: {DAY}}}"], env)
    assert built.returncode == 0, built.stdout[-4000:]
    url = env["DATABASE_URL"]
    assert _query(
        url, "select has_table_privilege(%s, 'marts.recommendations', 'select')", (role,)
    )[0][0]
    ((versions, rows),) = _query(
        url, "select count(distinct version), count(*) from marts.recommendations where date = %s",
        (DAY,),
    )  # fmt: skip
    assert versions == 1 and rows > 0
    # Nothing is published by dbt: the API serves only what the pipeline's publish step points at.
    assert _query(url, "select count(*) from ops.published_days") == [(0,)]

    tested = _run([str(BIN / "dbt"), "test", "--vars", f"{{run_date: {DAY}}}"], env)
    assert tested.returncode == 0, tested.stdout[-4000:]
    # A second build is a new version beside the first, which it leaves untouched.
    first = _query(url, "select * from marts.recommendations order by 1, 2, 3, 4, 5")
    again = _run([str(BIN / "dbt"), "build", "--vars", f"{{run_date: {DAY}}}"], env)
    assert again.returncode == 0, again.stdout[-4000:]
    both = _query(url, "select * from marts.recommendations order by 1, 2, 3, 4, 5")
    assert [r for r in both if r[1] == first[0][1]] == first
    assert len(both) == 2 * len(first)
