"""The Spark part of the local stack (`adtech stack up --spark`): a standalone cluster (a master
and two workers, devstack/spark_cluster.py) and a Thrift Server submitting to it, beside the
stack's PostgreSQL and S3 endpoint, their state under `<stack>/spark/`.

Their processes outlive the command that starts them; their PIDs and ports are kept in
`<stack>/spark/state.json`, so that a second `up` reuses them and `down` stops them by PID
(each JVM in a process group of its own, so a worker's executors stop with it).

The settings `up` returns point the pipeline's `spark` target there:
- ADTECH_SPARK_HOST / ADTECH_SPARK_PORT: the Thrift Server;
- ADTECH_SPARK_RAW_ROOT: a `file://` folder Spark reads the raw days from, refreshed from the
  stack's S3 bucket before each load (ADTECH_SPARK_RAW_FROM_S3): Spark reaches S3 through
  `s3a://`, whose jars (hadoop-aws) do not install here;
- ADTECH_SPARK_EXPORT_ROOT: where Spark writes the day's files before they land in PostgreSQL;
- ADTECH_SPARK_MASTER_URL and ADTECH_SPARK_UI: the cluster and the driver's UI (for people).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.spark import HOST, SparkServer
from devstack.spark_cluster import SparkCluster, start_cluster, start_thrift_server_on


@dataclass
class SparkStack:
    env: dict[str, str]
    started: list[str] = field(default_factory=list)
    # Set when this process started them (the tests use them to kill a worker, read the UI).
    cluster: SparkCluster | None = None
    server: SparkServer | None = None


def _state_path(root: Path) -> Path:
    return root / "spark" / "state.json"


def alive(pid: int) -> bool:
    """A live Spark JVM (a PID file outlives a reboot, and its number may be another's since)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and b"org.apache.spark" in cmdline


def _settings(root: Path, state: dict) -> dict[str, str]:
    spark = root / "spark"
    return {
        "ADTECH_SPARK_HOST": HOST,
        "ADTECH_SPARK_PORT": str(state["thrift_port"]),
        "ADTECH_SPARK_RAW_ROOT": (spark / "raw").as_uri(),
        "ADTECH_SPARK_RAW_FROM_S3": "true",
        "ADTECH_SPARK_EXPORT_ROOT": (spark / "exports").as_uri() + "/",
        "ADTECH_SPARK_MASTER_URL": state["master_url"],
        "ADTECH_SPARK_UI": f"http://{HOST}:{state['ui_port']}",
    }


def running(root: Path) -> dict | None:
    """The state of a cluster and Thrift Server that all still run, else None."""
    path = _state_path(root)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    return state if all(alive(pid) for pid in state["pids"].values()) else None


def up(root: Path) -> SparkStack:
    """Reuse the stack's cluster and Thrift Server if they all run, else (stopping what is left
    of them) start them: the master, two workers, then the Thrift Server on the port it had."""
    if state := running(root):
        return SparkStack(_settings(root, state))
    previous = json.loads(_state_path(root).read_text()) if _state_path(root).exists() else {}
    down(root)
    spark = root / "spark"
    spark.mkdir(parents=True, exist_ok=True)
    cluster = start_cluster(spark)
    try:
        server = start_thrift_server_on(
            cluster, spark / "thrift", port=_port_if_free(previous.get("thrift_port"))
        )
    except BaseException:
        cluster.stop()
        raise
    state = {
        "thrift_port": server.port,
        "ui_port": server.ui_port,
        "master_url": cluster.master_url,
        # Stopped in this order: the application first, the master last.
        "pids": {"thrift": server.process.pid, **cluster.pids()},
    }
    _state_path(root).write_text(json.dumps(state, indent=2))
    cluster.state_file = _state_path(root)
    started = [f"spark-{name}" for name in state["pids"]]
    return SparkStack(_settings(root, state), started, cluster, server)


def _port_if_free(port: int | None) -> int | None:
    from devstack.ports import port_free

    return port if port and port_free(port) else None


def down(root: Path, timeout: float = 30) -> list[str]:
    """Stop the stack's Spark processes by PID (SIGTERM to each process group, SIGKILL after
    `timeout`); the names of those that were running."""
    path = _state_path(root)
    if not path.exists():
        return []
    stopped = []
    for name, pid in json.loads(path.read_text())["pids"].items():
        if not alive(pid):
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
        stopped.append(f"spark-{name}")
    return stopped
