"""The repository's conventions hold: `pre-commit run --all-files` passes (ruff, ruff format,
sqlfluff with the dbt templater against the test stack's PostgreSQL on every model and singular
test: the suite's one lint of the SQL, hadolint, the CI workflow's schema), and the CI workflow
runs exactly the README's test command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_pre_commit_passes_on_all_files(fresh_db: str, tmp_path: Path) -> None:
    # fresh_db exports DATABASE_URL: the dbt templater compiles the models against it.
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),  # not the shared ./target
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        [str(BIN / "pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[:8000]
    hooks = ("ruff check", "ruff format", "sqlfluff lint", "hadolint", "GitHub workflows")
    for hook in hooks:  # each hook ran on some file (a hook with no file says "Skipped")
        line = next((ln for ln in output.splitlines() if ln.startswith(hook)), "")
        assert line.endswith("Passed"), f"{hook}: {line!r}\n{output[:3000]}"


def test_ci_workflow_runs_exactly_the_ci_script() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    steps = job["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[-1] == "bash .ci/run"
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert ".venv" in cache["with"]["path"] and "uv" in cache["with"]["path"]
    assert "hashFiles('requirements/dev.txt')" in cache["with"]["key"]
    ci_run = (ROOT / ".ci/run").read_text()
    assert "make test" in ci_run
