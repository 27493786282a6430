"""Copies of the repository as a new user gets it, and a shell that drives them as that user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def copy_worktree(dest: Path) -> Path:
    """The working tree's tracked and new files (what `git status` shows, so the code under test,
    not HEAD), without ignored ones: no target/, .stack/, .venv/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the tree is still listed
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def clone_head(dest: Path) -> Path:
    """`git clone` of the repository's HEAD into `dest` (which must not exist or be empty)."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    return dest


def newcomer_env(**extra: str) -> dict[str, str]:
    """A login-like environment: no project, Airflow, AWS or database settings, and this venv NOT
    on PATH (what `adtech stack env` exports must be enough)."""
    return {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **extra,
    }


def shell(checkout: Path, script: str, timeout: float = 900, **extra: str):
    """Run `script` in bash inside `checkout`, where `adtech` is the console script of that
    checkout (this venv's Python running the checkout's code)."""
    prelude = f'adtech() {{ "{VENV_BIN / "python"}" -m pipeline "$@"; }}\nset -e\n'
    return subprocess.run(
        ["bash", "-c", prelude + script],
        cwd=checkout,
        env=newcomer_env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
