"""The `adtech` command as a user runs it: a new process, from the repository root."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def adtech(
    env: dict[str, str] | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    """`adtech ARGS` with exactly `env` (default: this process's environment, the venv first on
    PATH); with `check`, a non-zero exit fails the test and shows the end of stderr."""
    if env is None:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, f"adtech {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


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
