"""`adtech stack up | down | env` against real processes: reuse, clean stop, external settings."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import psycopg2
import pytest

from devstack import stack as devstack
from devstack.postgres import LocalPostgres
from devstack.s3 import LocalS3


@pytest.fixture
def stack_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private stack folder, with no outside settings in the environment."""
    for name in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    root = Path(tempfile.mkdtemp(prefix="adtech-stack-test-"))  # mode 700
    monkeypatch.setenv("ADTECH_STACK_DIR", str(root))
    yield root
    devstack.destroy(root)


def _running(pid: int) -> bool:
    """True if `pid` is a live process (zombies count as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _exports(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0]
    return env


def test_up_starts_both_and_second_up_reuses(stack_dir: Path) -> None:
    first = devstack.up(stack_dir, airflow_db=False)
    assert sorted(first.started) == ["postgres", "s3"]
    pg_pid = LocalPostgres(stack_dir / "postgres", 0).pid()
    s3_pid = LocalS3(stack_dir / "s3", 0).pid()
    assert pg_pid and s3_pid

    second = devstack.up(stack_dir, airflow_db=False)
    assert second.started == []
    assert second.env == first.env
    assert LocalPostgres(stack_dir / "postgres", 0).pid() == pg_pid
    assert LocalS3(stack_dir / "s3", 0).pid() == s3_pid

    assert "PostgreSQL" in devstack.check_postgres(second.env["DATABASE_URL"])


def test_env_exports_reach_postgres_and_the_bucket(stack_dir: Path) -> None:
    devstack.up(stack_dir, airflow_db=False)
    env = _exports(devstack.env_lines(stack_dir))
    assert env["DATABASE_URL"].startswith("postgresql://")
    assert env["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:")
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    client.put_object(Bucket=env["ADTECH_S3_BUCKET"], Key="raw/x", Body=b"hello")
    assert client.get_object(Bucket=env["ADTECH_S3_BUCKET"], Key="raw/x")["Body"].read() == b"hello"
    with psycopg2.connect(env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("select current_database()")
        assert cur.fetchone()[0] == "adtech"


def test_down_leaves_no_process_and_up_restarts_on_same_urls(stack_dir: Path) -> None:
    before = devstack.up(stack_dir, airflow_db=False)
    pg_pid = LocalPostgres(stack_dir / "postgres", 0).pid()
    s3_pid = LocalS3(stack_dir / "s3", 0).pid()

    assert sorted(devstack.down(stack_dir)) == ["postgres", "s3"]
    assert not _running(pg_pid)
    assert not _running(s3_pid)
    # no postgres child of the cluster survives either
    leftovers = subprocess.run(["pgrep", "-f", str(stack_dir)], capture_output=True, text=True)
    assert [p for p in leftovers.stdout.split() if _running(int(p))] == []
    assert devstack.down(stack_dir) == []

    again = devstack.up(stack_dir, airflow_db=False)
    assert sorted(again.started) == ["postgres", "s3"]
    assert again.env["DATABASE_URL"] == before.env["DATABASE_URL"]


def test_external_settings_are_used_and_nothing_is_started(
    stack_dir: Path, stack: devstack.Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DATABASE_URL and AWS_ENDPOINT_URL_S3 pointing elsewhere (here: the session's stack)."""
    monkeypatch.setenv("DATABASE_URL", stack.env["DATABASE_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", stack.env["AWS_ENDPOINT_URL_S3"])
    monkeypatch.setenv("ADTECH_S3_BUCKET", "external-bucket")
    result = devstack.up(stack_dir, airflow_db=False)
    assert result.started == []
    assert LocalPostgres(stack_dir / "postgres", 0).pid() is None
    assert LocalS3(stack_dir / "s3", 0).pid() is None
    env = _exports(devstack.env_lines(stack_dir))
    assert env["DATABASE_URL"] == stack.env["DATABASE_URL"]
    assert env["AWS_ENDPOINT_URL_S3"] == stack.env["AWS_ENDPOINT_URL_S3"]
    assert env["ADTECH_S3_BUCKET"] == "external-bucket"


def test_cli_round_trip(stack_dir: Path) -> None:
    """The console script, as a user runs it."""
    adtech = [sys.executable, "-m", "pipeline", "stack"]
    env = {**os.environ, "ADTECH_STACK_DIR": str(stack_dir)}
    up = subprocess.run(
        [*adtech, "up", "--no-airflow"], env=env, capture_output=True, text=True, check=True
    )
    assert "started postgres, s3" in up.stderr
    out = subprocess.run([*adtech, "env"], env=env, capture_output=True, text=True, check=True)
    assert "export DATABASE_URL=" in out.stdout
    _loads_under_strict_bash(env, out.stdout)
    down = subprocess.run([*adtech, "down"], env=env, capture_output=True, text=True, check=True)
    assert "stopped postgres, s3" in down.stderr


def _loads_under_strict_bash(env: dict[str, str], printed: str) -> None:
    """`eval "$(adtech stack env)"` in a CI script (`bash -euo pipefail`) with PYTHONPATH unset,
    as most shells have it: every line evaluates, the search paths are prepended once, and a
    second evaluation changes nothing."""
    script = (
        'eval "$(adtech stack env)"; first="$PYTHONPATH|$PATH|$DATABASE_URL"\n'
        'eval "$(adtech stack env)"; test "$first" = "$PYTHONPATH|$PATH|$DATABASE_URL"\n'
        'printf "%s\\n" "$PYTHONPATH" "$DATABASE_URL"\n'
    )
    user_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    user_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=user_env, capture_output=True, text=True
    )
    assert run.returncode == 0, f"stack env under set -euo pipefail:\n{run.stderr}\n{printed}"
    pythonpath, database_url = run.stdout.splitlines()
    assert pythonpath == str(Path(__file__).resolve().parents[2])
    assert database_url.startswith("postgresql://")
