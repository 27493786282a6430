"""`adtech stack up --spark` on a machine whose Java is missing, as a newcomer meets it: one line
that says what is missing, exit code 1, no traceback, and no Spark process left behind."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli import adtech, with_venv_on_path


def test_stack_up_spark_without_java_says_so_in_one_line(stack, tmp_path) -> None:
    env = with_venv_on_path(
        {
            **os.environ,
            # The session's PostgreSQL and S3 endpoint: `up` would start only Spark.
            **stack.env,
            "ADTECH_STACK_DIR": str(tmp_path / "stack"),
            "JAVA_HOME": str(tmp_path / "no-jdk"),
        }
    )
    result = adtech(env, "stack", "up", "--spark", "--no-airflow", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    # One message (rich folds it to the terminal's width, a long path anywhere).
    assert output.count("stack up failed") == 1, output
    expected = f"stack up failed: JAVA_HOME={tmp_path / 'no-jdk'} holds no bin/java"
    assert "".join(expected.split()) in "".join(output.split()), output
    assert not _processes_in(tmp_path / "stack"), "a process of the failed stack is running"


def _processes_in(folder: Path) -> list[str]:
    """Command lines of running processes that name `folder`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
        if str(folder) in cmdline:
            found.append(cmdline)
    return found
