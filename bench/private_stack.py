"""A private local stack for one benchmark: its own folder, PostgreSQL and S3 endpoint, and dbt's
partial-parse state apart from the working tree's (as a server's target/ would be)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack import stack

# Settings of another stack that must not leak into this one.
OUTSIDE = ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX")


@dataclass(frozen=True)
class PrivateStack:
    root: Path
    stack: stack.Stack
    env: dict[str, str]  # os.environ with the stack's settings, the venv first on PATH


@contextlib.contextmanager
def private_stack(name: str, airflow_db: bool = True) -> Iterator[PrivateStack]:
    """Up for the block, destroyed after it; the stack's settings are in os.environ meanwhile."""
    root = Path(tempfile.mkdtemp(prefix=f"adtech-{name}-"))
    root.chmod(0o755)  # the PostgreSQL service user must reach its folder
    for key in OUTSIDE:
        os.environ.pop(key, None)
    st = stack.up(root, airflow_db=airflow_db)
    os.environ.update(st.env)
    try:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_TARGET_PATH": str(root / "target"),
            "DBT_LOG_PATH": str(root / "dbt-logs"),
        }
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
        yield PrivateStack(root, st, env)
    finally:
        stack.destroy(root)
        shutil.rmtree(root, ignore_errors=True)
