"""The stack comes back where it was: after an immediate stop of PostgreSQL (a crash) or a reboot
(stale PID files), `adtech stack up` restarts on the same ports, so whatever was configured from
the old `adtech stack env` (here a running API) reconnects by itself. Only a port that another
program really listens on is given up, and `stack up` says so."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import ports
from devstack import stack as devstack
from devstack.postgres import LocalPostgres, _service_user
from devstack.s3 import LocalS3
from tests.api.conftest import wait_for
from tests.api.sample_marts import fill_published_marts

TIME_WAIT = "06"  # socket state in /proc/net/tcp


@pytest.fixture
def stack_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    root = Path(tempfile.mkdtemp(prefix="adtech-restart-test-"))
    monkeypatch.setenv("ADTECH_STACK_DIR", str(root))
    yield root
    devstack.destroy(root)


def _cli_up(stack_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """`adtech stack up` as a user runs it (wide output: rich wraps at 80 columns otherwise)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "stack", "up", "--no-airflow"],
        env={**os.environ, "ADTECH_STACK_DIR": str(stack_dir), "COLUMNS": "400", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _time_wait_on(port: int) -> bool:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == TIME_WAIT and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


def _plain_bind_fails(port: int) -> bool:
    """What the port check did before: bind without SO_REUSEADDR."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture
def api(stack_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, devstack.Stack]]:
    """The stack with one published day, and `adtech serve` running against it (a process
    configured from the stack's settings, as a user's shell would start it)."""
    st = devstack.up(stack_dir, airflow_db=False)
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    fill_published_marts(st.env["DATABASE_URL"], [dt.date(2024, 11, 20)], advertisers=4)
    port = ports.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", str(port)],
        env={
            **os.environ,
            **st.env,
            "ADTECH_API_POLL_INTERVAL_SECONDS": "0.2",
            "ADTECH_API_CONNECT_TIMEOUT_SECONDS": "1",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _status(f"{base}/health/ready") == 200, timeout=60)
        yield base, st
    finally:
        server.terminate()
        server.wait(timeout=30)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.HTTPError:
        return None


def test_api_started_before_a_crash_answers_again_after_stack_up(api, stack_dir: Path) -> None:
    base, before = api
    pg_port = _port(before.env["DATABASE_URL"])
    # One more client, as under load. A bare TCP connection: the server's side reaches TIME_WAIT
    # when the client closes after the crash without sending anything (data would get a reset).
    client = socket.create_connection(("127.0.0.1", pg_port))
    LocalPostgres(stack_dir / "postgres", pg_port).stop(mode="immediate")
    client.close()
    assert _status(f"{base}/health/ready") == 503
    # The crash left the server's side of a connection in TIME_WAIT: the old check (a bind
    # without SO_REUSEADDR) called the port busy and moved PostgreSQL to a new one.
    assert wait_for(lambda: _time_wait_on(pg_port), timeout=5)
    assert _plain_bind_fails(pg_port)

    up = _cli_up(stack_dir)
    assert up.returncode == 0, up.stderr
    assert "started postgres" in up.stderr and "held by" not in up.stderr, up.stderr
    assert devstack.env_lines(stack_dir) == before.export_lines()
    assert wait_for(lambda: _status(f"{base}/health/ready") == 200, timeout=30), (
        "the API configured before the crash did not come back by itself"
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == pid:
            found.append(int(entry))
    return found


def test_stale_pid_files_after_a_reboot_restart_on_the_same_ports(stack_dir: Path) -> None:
    before = devstack.up(stack_dir, airflow_db=False)
    pg = LocalPostgres(stack_dir / "postgres", _port(before.env["DATABASE_URL"]))
    s3 = LocalS3(stack_dir / "s3", _port(before.env["AWS_ENDPOINT_URL_S3"]))
    # A reboot: every process gone at once, PID files left behind...
    postmaster, moto = pg.pid(), s3.pid()
    for pid in [*_children(postmaster), postmaster, moto]:
        with contextlib.suppress(ProcessLookupError):  # a child may exit first
            os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: pg.pid() is None and s3.pid() is None, timeout=10)
    # ...and their numbers now belong to other processes, of the same users.
    user = _service_user()
    as_server = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    strangers = [
        subprocess.Popen(["sleep", "300"], **as_server),
        subprocess.Popen(["sleep", "300"]),
    ]
    try:
        pidfile = pg.data / "postmaster.pid"
        rest = pidfile.read_text().split("\n", 1)[1]
        pidfile.write_text(f"{strangers[0].pid}\n{rest}")
        s3.pidfile.write_text(str(strangers[1].pid))

        up = _cli_up(stack_dir)
        assert up.returncode == 0, up.stderr
        assert "started postgres, s3" in up.stderr and "held by" not in up.stderr, up.stderr
        assert devstack.env_lines(stack_dir) == before.export_lines()
        assert "PostgreSQL" in devstack.check_postgres(before.env["DATABASE_URL"])
        assert all(s.poll() is None for s in strangers), "a stranger was killed"
    finally:
        for stranger in strangers:
            stranger.kill()
            stranger.wait()


def test_a_port_another_program_holds_is_given_up_and_said(stack_dir: Path) -> None:
    before = devstack.up(stack_dir, airflow_db=False)
    old_url = before.env["DATABASE_URL"]
    old = _port(old_url)
    devstack.down(stack_dir)
    with socket.socket() as squatter:
        # SO_REUSEADDR: the stopped server's connections may still be in TIME_WAIT.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        up = _cli_up(stack_dir)
        assert up.returncode == 0, up.stderr
        said = " ".join(up.stderr.split())
        assert f"port {old} is held by pid {os.getpid()}" in said, said
        assert "stale" in said and "eval" in said
        after = devstack.up(stack_dir, airflow_db=False)
        new_url = after.env["DATABASE_URL"]
        assert _port(new_url) != old
        assert after.env["AWS_ENDPOINT_URL_S3"] == before.env["AWS_ENDPOINT_URL_S3"]
        assert "PostgreSQL" in devstack.check_postgres(new_url)
        # A shell still holding the old settings runs `stack up`: the old URL is recognised as
        # this stack's, not taken for an outside database.
        again = _cli_up(stack_dir, DATABASE_URL=old_url)
        assert "started nothing" in again.stderr, again.stderr
        assert devstack.env_lines(stack_dir) == after.export_lines()


def test_port_check_ignores_time_wait_but_not_a_listener() -> None:
    """A server that, like PostgreSQL and moto, sets SO_REUSEADDR on its listening socket (Linux
    lets a new bind through a TIME_WAIT connection only when both sides set it)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not ports.port_free(port)
        assert ports.holder(port).startswith(f"pid {os.getpid()} ")
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its end goes to TIME_WAIT
        client.close()
    assert _time_wait_on(port) and _plain_bind_fails(port)
    assert ports.port_free(port)
