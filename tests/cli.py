"""The `adtech` command as a user runs it (a new process, from the repository root), and the
environment that points the pipeline at one database and one bucket: the one helper every test
that runs the pipeline as a subprocess uses."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `adtech` itself: this venv's Python running the checkout's console script.
ADTECH = (sys.executable, "-m", "pipeline")


def with_venv_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this venv's bin first on PATH (dbt, airflow: what the pipeline starts)."""
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def pipeline_env(
    stack_env: dict[str, str], database_url: str, bucket: str, **extra: str
) -> dict[str, str]:
    """This process's environment with the pipeline pointed at `database_url` and `bucket` on the
    stack's S3 endpoint (plus `extra` settings), the venv first on PATH."""
    return with_venv_on_path(
        {
            **os.environ,
            **stack_env,
            "DATABASE_URL": database_url,
            "ADTECH_S3_BUCKET": bucket,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            **extra,
        }
    )


def adtech(
    env: dict[str, str] | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    """`adtech ARGS` with exactly `env` (default: this process's environment, the venv first on
    PATH); with `check`, a non-zero exit fails the test and shows the end of stderr."""
    if env is None:
        env = with_venv_on_path(dict(os.environ))
    result = subprocess.run([*ADTECH, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"adtech {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


def adtech_process(env: dict[str, str] | None, *args: str, **popen: object) -> subprocess.Popen:
    """`adtech ARGS` started in the background (a server, a run to interrupt); `popen` passes
    stdout, stderr, text... to subprocess.Popen."""
    if env is None:
        env = with_venv_on_path(dict(os.environ))
    return subprocess.Popen([*ADTECH, *args], env=env, cwd=ROOT, **popen)  # type: ignore[arg-type]


def generate_churning_days(first: dt.date, days: int, seed: int) -> None:
    """Small days (3,000 views and ad events) whose active advertisers change from day to day,
    so a day computed from another day's rows cannot look right."""
    adtech(
        None,
        "generate", "--start", first.isoformat(), "--days", str(days),
        "--advertisers", "12", "--active", "8", "--churn", "0.5", "--products", "40",
        "--views-per-day", "3000", "--ad-events-per-day", "3000", "--click-rate", "0.1",
        "--seed", str(seed),
    )  # fmt: skip


def stop_group(process: subprocess.Popen, timeout: float = 60) -> None:
    """Stop a server started with `start_new_session=True` and everything it started: SIGTERM
    to its process group, SIGKILL if it is still there after `timeout` seconds."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def why_it_failed(output: str, context: int = 25, limit: int = 12_000) -> str:
    """What a failed `airflow dags test` (or any long log) printed about its failure: each error
    line or traceback with the lines after it, then the log's end. The end alone of a DAG run's
    log shows the tasks that ran last, rarely the one that failed."""
    lines = output.splitlines()
    marks = ("Traceback", "ERROR", "[error", "state=failed", "new_state=failed")
    shown: list[str] = []
    last = -1
    for i, line in enumerate(lines):
        if any(mark in line for mark in marks) and i > last:
            last = min(len(lines), i + context)
            shown += ["...", *lines[i:last]]
    return ("\n".join(shown)[:limit] + "\n... the end:\n" + output[-2000:]).strip()
