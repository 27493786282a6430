"""A Spark standalone cluster from the pyspark wheel: one master and N workers, each a JVM of its
own (`spark-class org.apache.spark.deploy.master.Master` / `...worker.Worker`), and a Thrift
Server (devstack/spark.py) submitting to it, so that shuffles cross process boundaries, executors
can be lost, and the driver's memory is apart from the executors'. It stands in for EMR,
Dataproc or any cluster whose Thrift endpoint dbt's `spark` target reaches.

    cluster = start_cluster(Path("/tmp/spark-state"))   # master + 2 workers: ~5 s
    server = start_thrift_server(Path("/tmp/spark-state"), master=cluster.master_url,
                                 conf=cluster.app_conf())
    ...
    server.stop(); cluster.stop()

Each worker offers 1 core and `worker_memory`; each executor takes one whole worker (1 core,
`executor_memory`), so the Thrift Server's application holds one executor per worker. Logs
and work folders stay under the state folder (`cluster/`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port
from devstack.spark import (
    HOST,
    SparkServer,
    SparkStartError,
    _java,
    _tail,
    java_options,
    spark_home,
    start_thrift_server,
)

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def _get_json(url: str, timeout: float = 30) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "JAVA_HOME": str(Path(_java()).resolve().parents[1]),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": HOST,
        # The master's REST submission server (port 6066) is not used: applications connect
        # over spark://.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        "SPARK_DAEMON_JAVA_OPTS": java_options(),
    }
    env.pop("SPARK_CONF_DIR", None)
    return env


@dataclass
class Daemon:
    """One JVM of the cluster (the master or a worker), in a process group of its own."""

    name: str
    command: list[str]
    log_path: Path
    ui_port: int
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, cwd: Path) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crashed host: no shutdown hook runs, the master and the driver learn
        of it by the lost connection."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        if not self.running():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class SparkCluster:
    state_dir: Path
    master_port: int
    master_ui_port: int
    master: Daemon
    workers: list[Daemon]
    executor_memory: str
    # A JSON file whose "pids" a restarted worker updates (the stack's state: `adtech stack
    # down` stops the processes it names).
    state_file: Path | None = None

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    @property
    def master_ui(self) -> str:
        return f"http://{HOST}:{self.master_ui_port}"

    def app_conf(self) -> dict[str, str]:
        """What an application on this cluster asks for: one 1-core executor per worker."""
        return {
            # The executors call the driver back: on the loopback address, as the workers.
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.executor.cores": "1",
            "spark.executor.memory": self.executor_memory,
            "spark.cores.max": str(len(self.workers)),
            # The executors' temporary files (lz4's native library among them) in the cluster's
            # folder: an executor killed with its worker leaves them there, not in /tmp.
            "spark.executor.extraJavaOptions": (
                f"{java_options()} -Djava.io.tmpdir={self.state_dir / 'tmp'}".strip()
            ),
        }

    def alive_workers(self) -> list[dict]:
        """The master's view: its ALIVE workers (id, webuiaddress, cores, memory...)."""
        state = _get_json(f"{self.master_ui}/json/")
        return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]

    def pids(self) -> dict[str, int]:
        return {d.name: d.pid for d in (self.master, *self.workers) if d.running()}

    def wait_for_workers(self, count: int | None = None, timeout: float = 60) -> None:
        """Until the master counts `count` (default: all) workers alive."""
        count = len(self.workers) if count is None else count
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            for daemon in (self.master, *self.workers):
                if daemon.process is not None and not daemon.running():
                    raise SparkStartError(
                        f"the Spark {daemon.name} exited with code "
                        f"{daemon.process.returncode}\n{_tail(daemon.log_path)}"
                    )
            try:
                if len(self.alive_workers()) >= count:
                    return
            except (OSError, ValueError) as exc:  # the master's UI not up yet
                last = exc
            time.sleep(0.5)
        raise SparkStartError(
            f"the Spark master at {self.master_url} did not see {count} worker(s) in time"
            f" (last error: {last})\n{_tail(self.master.log_path)}"
        )

    def restart_worker(self, index: int) -> None:
        """Start worker `index` again (after kill()): it registers anew with the master, which
        then gives waiting applications an executor on it."""
        worker = self.workers[index]
        worker.kill()
        worker.start(self.state_dir)
        if self.state_file is not None:
            state = json.loads(self.state_file.read_text())
            state["pids"][worker.name] = worker.pid
            self.state_file.write_text(json.dumps(state, indent=2))
        self.wait_for_workers()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.master.stop()


def start_cluster(
    state_dir: Path,
    *,
    workers: int = 2,
    worker_memory: str = "768m",
    executor_memory: str = "512m",
    master_port: int | None = None,
    master_ui_port: int | None = None,
    timeout: float = 90,
) -> SparkCluster:
    """Start a master and `workers` workers (1 core each) whose logs and work folders live under
    `state_dir`/cluster, and return once the master counts every worker alive."""
    root = Path(state_dir).resolve() / "cluster"
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    spark_class = str(spark_home() / "bin" / "spark-class")
    master_port = master_port or free_port()
    master_ui_port = master_ui_port or free_port()
    master = Daemon(
        "master",
        [spark_class, MASTER_CLASS, "--host", HOST, "--port", str(master_port),
         "--webui-port", str(master_ui_port)],
        root / "master.log",
        master_ui_port,
    )  # fmt: skip
    daemons = []
    for i in range(workers):
        ui = free_port()
        work = root / f"worker-{i}"
        work.mkdir(exist_ok=True)
        daemons.append(
            Daemon(
                f"worker-{i}",
                [spark_class, WORKER_CLASS, "--host", HOST, "--webui-port", str(ui),
                 "--port", str(free_port()), "--cores", "1", "--memory", worker_memory,
                 "--work-dir", str(work),
                 f"spark://{HOST}:{master_port}"],
                root / f"worker-{i}.log",
                ui,
            )
        )  # fmt: skip
    cluster = SparkCluster(root, master_port, master_ui_port, master, daemons, executor_memory)
    try:
        master.start(root)
        # The master's UI answering first: a worker started meanwhile could take its port.
        cluster.wait_for_workers(0, timeout=timeout)
        for worker in daemons:
            worker.start(root)
        cluster.wait_for_workers(timeout=timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_thrift_server_on(
    cluster: SparkCluster, state_dir: Path, *, port: int | None = None, driver_memory: str = "1g"
) -> SparkServer:
    """A Thrift Server whose application runs on `cluster` (its executors on the workers), with
    the driver's UI on a free port for its REST API. Returns once it answers over thrift."""
    return start_thrift_server(
        state_dir,
        port=port,
        master=cluster.master_url,
        driver_memory=driver_memory,
        conf=cluster.app_conf(),
        ui_port=free_port(),
    )


def executors(server: SparkServer) -> list[dict]:
    """Every executor the server's application ever had (the driver included, lost ones too),
    from the driver's REST API: id, hostPort, isActive, totalTasks, executorLogs..."""
    base = f"http://{server.host}:{server.ui_port}/api/v1/applications"
    (app,) = _get_json(base)
    return _get_json(f"{base}/{app['id']}/allexecutors")


def jobs(server: SparkServer, status: str | None = None) -> list[dict]:
    """The server's application's jobs (optionally only those with `status`: running,
    succeeded, failed), from the driver's REST API; a Thrift Server's job carries its SQL
    statement as its description."""
    base = f"http://{server.host}:{server.ui_port}/api/v1/applications"
    (app,) = _get_json(base)
    query = f"?status={status}" if status else ""
    found = _get_json(f"{base}/{app['id']}/jobs{query}")
    return [{**j, "description": j.get("description") or j.get("name", "")} for j in found]
