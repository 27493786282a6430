"""The `adtech` command as a user runs it: a new process, from the repository root."""

from __future__ import annotations

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
