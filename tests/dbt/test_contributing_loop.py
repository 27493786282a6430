"""CONTRIBUTING.md's loop for changing a model, run as written: its fenced block, verbatim, in
bash from the repository root, after what it says comes first (a stack whose day 2024-11-20 was
run by the pipeline). `adtech stack env` there prints this test's own stack settings: a stack
folder (ADTECH_STACK_DIR) whose stack.env points at a fresh database and bucket."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
from dbt_support import ROOT

from tests.cli import adtech
from tests.databases import new_database

DAY = "2024-11-20"


def loop_block() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text[text.index("## Change a dbt model: the loop") :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_the_contributing_loop_runs_as_written(stack, s3, admin_url, tmp_path: Path) -> None:
    block = loop_block()
    assert "export DBT_TARGET=dev" in block and "--selector one_day" in block
    bucket = f"t-loop-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    with new_database(admin_url, prefix="t_loop") as url:
        settings = {**stack.env, "DATABASE_URL": url, "ADTECH_S3_BUCKET": bucket}
        settings.pop("ADTECH_API_DATABASE_URL", None)
        stack_dir = tmp_path / "stack"
        stack_dir.mkdir()
        (stack_dir / "stack.env").write_text(
            "".join(f"export {name}='{value}'\n" for name, value in settings.items())
        )
        env = {
            **os.environ,
            **settings,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        for name in ("DBT_TARGET", "ADTECH_DBT_TARGET", "ADTECH_RUN_DATE"):
            env.pop(name, None)
        adtech(
            env, "generate", "--start", DAY, "--days", "1", "--advertisers", "6", "--active",
            "5", "--products", "25", "--views-per-day", "1500", "--ad-events-per-day", "1500",
            "--seed", "5",
        )  # fmt: skip
        adtech(env, "run", "--date", DAY)
        shell = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBT_TARGET")},
            "ADTECH_STACK_DIR": str(stack_dir),
            "ADTECH_DEV_USER": "loop",
            "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
        }
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=ROOT, env=shell, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "dbt conventions (dbt-bouncer)" in output and "Passed" in output
        assert (tmp_path / "target" / "index.html").exists()
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                "select count(*), count(distinct version) from dev_loop_marts.top_ctr"
                " where date = %s", (DAY,)
            )  # fmt: skip
            rows, versions = cur.fetchone()
            assert rows > 0 and versions == 2  # the whole day, then `+top_ctr`
            cur.execute("select count(distinct version) from marts.top_ctr")
            assert cur.fetchone() == (1,)  # the night's only
