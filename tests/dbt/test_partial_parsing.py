"""A night with a new run date keeps dbt's partial parsing: the pipeline passes the day and the
version as environment variables that dbt reads only at execution time (macros/vars.sql), so the
project is not parsed again every night (a new `--vars` value forces a full parse, about 3 s more
per dbt invocation on these machines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dbt_support import ROOT

DBT = str(Path(sys.executable).parent / "dbt")
MODEL = "int_active_advertisers"


def _dbt(tmp: Path, *args: str, **env: str) -> str:
    """One dbt command with private artifacts; returns what it logged at debug level."""
    log = tmp / "logs" / "dbt.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(
        [DBT, *args, "--log-level-file", "debug"],
        cwd=ROOT,
        env={
            **os.environ,
            "DBT_TARGET_PATH": str(tmp / "target"),
            "DBT_LOG_PATH": str(tmp / "logs"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return log.read_text()


def _compiled(tmp: Path) -> str:
    return next((tmp / "target" / "compiled").rglob(f"{MODEL}.sql")).read_text()


def test_new_days_and_ranges_from_the_environment_keep_partial_parsing(
    project_db, tmp_path
) -> None:
    """One parse, then nights and backfill ranges with new days and versions: each compiles its
    own days with the parsed project."""
    _dbt(tmp_path, "parse")
    for day, version in (("2031-01-01", "11"), ("2031-01-02", "12")):
        log = _dbt(
            tmp_path, "compile", "--select", MODEL,
            ADTECH_RUN_DATE=day, ADTECH_BUILD_VERSION=version,
        )  # fmt: skip
        assert "Unable to do partial parsing" not in log
        assert "Partial parsing enabled" in log
        assert f"cast('{day}' as date)" in _compiled(tmp_path)
    for first, last in (("2031-01-01", "2031-01-30"), ("2031-02-01", "2031-02-03")):
        log = _dbt(
            tmp_path, "compile", "--select", MODEL,
            ADTECH_RUN_DATE=first, ADTECH_RUN_DATE_END=last, ADTECH_BUILD_VERSION="13",
        )  # fmt: skip
        assert "Unable to do partial parsing" not in log
        assert "Partial parsing enabled" in log
        assert f"between cast('{first}' as date) and cast('{last}' as date)" in _compiled(tmp_path)


def test_a_new_run_date_in_vars_forces_a_full_parse(project_db, tmp_path) -> None:
    """The contrast that makes the test above meaningful: what `--vars` costs."""
    _dbt(tmp_path, "compile", "--select", MODEL, "--vars", "{run_date: 2031-01-01}")
    log = _dbt(tmp_path, "compile", "--select", MODEL, "--vars", "{run_date: 2031-01-02}")
    assert "Unable to do partial parsing because config vars" in log
    assert "cast('2031-01-02' as date)" in _compiled(tmp_path)
