"""dbt's manifest, which the DAG renders its dbt task groups from: made on demand, so the DAG
imports on a fresh checkout (no `target/`) and follows edits to the dbt project.

`ensure_manifest` runs `dbt parse` (no database needed) when target/manifest.json is missing or
older than a file of the dbt project. Each dbt target has its own manifest (per-target configs,
such as the Spark marts' partitioning, are rendered at parse time): `default` in target/, any
other target in target/<name>/ (the folder `adtech run` builds it in, pipeline/transform.py); a
manifest made for another adapter (a hand-run `dbt parse` with DBT_TARGET set) counts as stale.
A file lock makes parallel DAG parses wait for one `dbt parse` instead of racing, and the new
manifest replaces the old one in one rename, so a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

# dbt_project.yml keys naming folders whose files shape the manifest.
SOURCE_DIRS = (
    "model-paths",
    "macro-paths",
    "test-paths",
    "seed-paths",
    "snapshot-paths",
    "analysis-paths",
)
# dbt without installing a console script: what `dbt` runs.
DBT = "import sys; from dbt.cli.main import cli; sys.exit(cli())"


class ManifestError(RuntimeError):
    """`dbt parse` failed: the project has an error to fix before the DAG can render."""


def _newest_source(project_dir: Path) -> float:
    """The latest modification time among the dbt project's files."""
    project_file = project_dir / "dbt_project.yml"
    config = yaml.safe_load(project_file.read_text())
    files = [project_file, project_dir / "profiles.yml", project_dir / "packages.yml"]
    newest = max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
    for key in SOURCE_DIRS:
        for folder in config.get(key, []):
            for dirpath, _, names in os.walk(project_dir / folder):
                for name in [".", *names]:
                    newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    return newest


def _adapter_type(project_dir: Path, target: str) -> str:
    """The adapter of `target` in profiles.yml (the manifest records the one it was parsed for)."""
    profiles = yaml.safe_load((project_dir / "profiles.yml").read_text())
    profile = yaml.safe_load((project_dir / "dbt_project.yml").read_text())["profile"]
    return profiles[profile]["outputs"][target]["type"]


def _parsed_for(manifest: Path) -> str | None:
    """The manifest's adapter type, from its head (metadata comes first; no full JSON load)."""
    with open(manifest, encoding="utf-8", errors="replace") as f:
        head = f.read(8192)
    found = re.search(r'"adapter_type":\s*"([^"]+)"', head)
    return found.group(1) if found else None


def _fresh(manifest: Path, project_dir: Path, target: str = "default") -> bool:
    return (
        manifest.exists()
        and manifest.stat().st_mtime >= _newest_source(project_dir)
        and _parsed_for(manifest) == _adapter_type(project_dir, target)
    )


def _parse(project_dir: Path, manifest: Path, target: str = "default") -> None:
    """`dbt parse` into a scratch target folder, then the manifest moved into place."""
    scratch = Path(tempfile.mkdtemp(dir=manifest.parent, prefix=".parse-"))
    try:
        # A subprocess: the caller may be Airflow parsing the DAG, which should not host dbt's
        # global state and logging.
        folders = ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        scratch_out = ["--target-path", str(scratch), "--log-path", str(scratch)]
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                DBT,
                "parse",
                "--quiet",
                "--target",
                target,
                *folders,
                *scratch_out,
            ],
            cwd=project_dir,
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ManifestError(f"dbt parse failed:\n{(result.stdout + result.stderr)[-3000:]}")
        os.replace(scratch / "manifest.json", manifest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def manifest_path(project_dir: Path, target: str = "default") -> Path:
    folder = project_dir / "target"
    return (folder if target == "default" else folder / target) / "manifest.json"


def ensure_manifest(project_dir: Path, target: str = "default") -> Path:
    """The manifest of the dbt project at `project_dir` for dbt target `target`
    (target/manifest.json for `default`), parsed first if it is missing or stale. Returns its
    path."""
    manifest = manifest_path(project_dir, target)
    if _fresh(manifest, project_dir, target):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Else another process made it while we waited.
        if not _fresh(manifest, project_dir, target):
            _parse(project_dir, manifest, target)
    return manifest
