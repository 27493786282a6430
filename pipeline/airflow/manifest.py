"""dbt's manifest that the DAGs render their Cosmos task groups from (LoadMode.DBT_MANIFEST: no
database and no dbt process while Airflow parses the DAG files).

It is made where the project is installed or deployed (`make install`, deploy/aws/install_host.sh,
`adtech stack up`: `python -m pipeline.airflow.manifest`) and checked each time a DAG file is
parsed: a manifest older than a file of the dbt project, or missing, is made again first (`dbt
parse` in a child process, a few seconds, once after each change), so a model added to the
project is a task the next time the DAG is parsed. The check itself reads file times only.

Each dbt target has its own manifest, in target/dag/<target>/ (a Spark manifest renders Spark's
configs), apart from the target/ of hand-run and pipeline builds, whose manifest.json may have
been written with other flags. A file lock makes parallel parses wait for one `dbt parse`, and the
new manifest replaces the old one in one rename, so no reader sees half a file.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.settings import REPO_ROOT, dbt_target

# dbt_project.yml keys naming folders whose files shape the manifest.
SOURCE_DIRS = ("model-paths", "macro-paths", "test-paths", "seed-paths", "snapshot-paths")
OTHER_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "selectors.yml")
# dbt without a console script on PATH.
DBT = "import sys; from dbt.cli.main import cli; sys.exit(cli())"


class ManifestError(RuntimeError):
    """`dbt parse` failed: the dbt project has an error to fix before the DAGs can render."""


def dbt_project(project_dir: Path = REPO_ROOT) -> dict:
    """dbt_project.yml, read with libyaml (PyYAML's pure-Python loader costs a tenth of a second
    here, at every DAG parse)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((project_dir / "dbt_project.yml").read_text(), Loader=loader)


def manifest_path(project_dir: Path = REPO_ROOT, target: str | None = None) -> Path:
    return project_dir / "target" / "dag" / (target or dbt_target()) / "manifest.json"


def newest_source(project_dir: Path = REPO_ROOT) -> float:
    """The latest modification time among the dbt project's files and folders (a folder's time
    changes when a file is added to it or removed)."""
    config = dbt_project(project_dir)
    files = [project_dir / name for name in OTHER_FILES]
    newest = max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
    for key in SOURCE_DIRS:
        for folder in config.get(key, []):
            for dirpath, _, names in os.walk(project_dir / folder):
                for name in [".", *names]:
                    newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    return newest


def is_fresh(manifest: Path, project_dir: Path = REPO_ROOT) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= newest_source(project_dir)


def _parse(project_dir: Path, target: str, manifest: Path) -> None:
    """`dbt parse` into a temporary target folder, then the manifest moved into place."""
    work = manifest.parent / ".parsing"
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [sys.executable, "-c", DBT, "parse", "--project-dir", str(project_dir),
         "--profiles-dir", str(project_dir), "--target", target, "--target-path", str(work),
         "--quiet"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0 or not (work / "manifest.json").exists():
        raise ManifestError(
            f"dbt parse failed for target {target!r}:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    os.replace(work / "manifest.json", manifest)


def ensure_manifest(project_dir: Path = REPO_ROOT, target: str | None = None) -> Path:
    """The target's manifest, made first when it is missing or older than the project."""
    target = target or dbt_target()
    manifest = manifest_path(project_dir, target)
    if is_fresh(manifest, project_dir):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be parsing: wait for it
        if not is_fresh(manifest, project_dir):
            _parse(project_dir, target, manifest)
    return manifest


def main() -> None:
    """`python -m pipeline.airflow.manifest`: make the manifest now (install and deploy steps)."""
    print(f"dbt manifest for the DAGs: {ensure_manifest()}")


if __name__ == "__main__":
    main()
