"""A local Spark Thrift Server (HiveServer2 protocol) from the pyspark wheel: what dbt's `spark`
target connects to on one machine, standing in for EMR, Databricks SQL or any Spark cluster with
a Thrift Server.

    server = start_thrift_server(Path("/tmp/spark-state"))   # ~25 s, ~1.6 GB
    os.environ.update(server.env)                              # ADTECH_SPARK_HOST / _PORT
    ...                                                        # dbt build --target spark
    server.stop()

Everything the server writes stays under its state folder: the warehouse (tables' files), the
Derby metastore (table definitions), scratch folders and the log (`thriftserver.log`). Starting
again on the same folder finds the same tables. Derby allows one JVM per metastore, so one server
per state folder at a time. It needs a Java 17 runtime on PATH (or JAVA_HOME):
devstack/system-deps.sh installs Debian's.

Command line: `python -m devstack.spark STATE_DIR` starts one, prints its `export` lines and
serves until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port

HOST = "127.0.0.1"
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
LOG_NAME = "thriftserver.log"
# Small-machine settings; a real cluster has its own. 200 shuffle partitions (Spark's default)
# would make every tiny aggregate schedule 200 tasks on 2 cores.
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    # Uncompressed files read in parts of 1 MB (Spark's default: 128 MB), so that even a small
    # day's file is split across tasks and workers as a cluster splits a day at size.
    "spark.sql.files.maxPartitionBytes": "1m",
    "spark.sql.session.timeZone": "UTC",
    # The embedded Derby metastore filters partitions on string keys only unless told to push
    # integral ones down too: the marts' `version = V` filters on a bigint partition key.
    # (Metastores on MySQL/PostgreSQL, or AWS Glue, prune such keys themselves.)
    "spark.hadoop.hive.metastore.integral.jdo.pushdown": "true",
    "spark.sql.hive.metastorePartitionPruningFallbackOnException": "true",
}


# The stack's JVMs on a small machine. Every JVM collects with the serial collector: the
# parallel ones' threads compete with the work for two cores (three test nights on the cluster:
# 114-120 -> 89-98 CPU seconds each in the JVMs). The short-lived and idle ones (master, workers,
# executors) compile with C1 only: C2's compiler threads cost more CPU than they save on
# test-sized work (tests/spark/test_hidden_cases.py: 249 -> 132 CPU seconds). The Thrift
# Server's driver plans every statement of every night it serves, so it keeps C2, which pays
# for itself from the second night on (89-98 -> 108, 76, 52 CPU seconds). docs/BENCHMARKS.md
# has the figures. A day at size, or a real cluster, wants the JVM's defaults:
# ADTECH_SPARK_JAVA_OPTIONS="" and ADTECH_SPARK_DRIVER_JAVA_OPTIONS="" (bench/spark_bench.py
# sets both).
SMALL_MACHINE_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SMALL_MACHINE_DRIVER_JAVA_OPTIONS = "-XX:+UseSerialGC"


def java_options() -> str:
    """Extra JVM options for the local Spark stack's master, workers and executors
    (ADTECH_SPARK_JAVA_OPTIONS)."""
    return os.environ.get("ADTECH_SPARK_JAVA_OPTIONS", SMALL_MACHINE_JAVA_OPTIONS).strip()


def driver_java_options() -> str:
    """Extra JVM options for the Thrift Server's driver (ADTECH_SPARK_DRIVER_JAVA_OPTIONS)."""
    return os.environ.get(
        "ADTECH_SPARK_DRIVER_JAVA_OPTIONS", SMALL_MACHINE_DRIVER_JAVA_OPTIONS
    ).strip()


class SparkStartError(RuntimeError):
    """The server exited or did not accept connections in time; the message ends with its log."""


def spark_home() -> Path:
    """The pyspark wheel's folder (it holds bin/spark-submit and the jars)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed: run `make install` (extra `spark`)")
    return Path(spec.submodule_search_locations[0])


def _java() -> str:
    if home := os.environ.get("JAVA_HOME"):
        java = Path(home) / "bin" / "java"
        if not os.access(java, os.X_OK):
            raise RuntimeError(
                f"JAVA_HOME={home} holds no bin/java: Spark needs a Java 17 runtime there (or"
                " JAVA_HOME unset and java on PATH)"
            )
        return str(java)
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "java not found: Spark needs a Java 17 runtime (devstack/system-deps.sh installs "
            "openjdk-17-jre-headless)"
        )
    return java


@dataclass
class SparkServer:
    host: str
    port: int
    state_dir: Path
    process: subprocess.Popen = field(repr=False)
    started_in: float = 0.0  # seconds from launch to the first accepted connection
    ui_port: int | None = None  # the driver's web UI and REST API (/api/v1), when enabled

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_NAME

    @property
    def warehouse(self) -> Path:
        return self.state_dir / "warehouse"

    @property
    def env(self) -> dict[str, str]:
        """What profiles.yml's `spark` output reads."""
        return {"ADTECH_SPARK_HOST": self.host, "ADTECH_SPARK_PORT": str(self.port)}

    def running(self) -> bool:
        return self.process.poll() is None

    def connect(self):
        """A PyHive connection over thrift (the protocol dbt-spark's `thrift` method uses)."""
        from pyhive import hive

        return hive.connect(host=self.host, port=self.port, username="adtech")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (Spark's shutdown hooks close the metastore cleanly), SIGKILL after
        `timeout`."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_thrift_server(
    state_dir: Path,
    *,
    port: int | None = None,
    master: str = "local[2]",
    driver_memory: str = "2g",
    conf: dict[str, str] | None = None,
    ui_port: int | None = None,
    timeout: float = 180,
) -> SparkServer:
    """Start a Thrift Server whose state lives in `state_dir` and return once it answers
    `select 1` over thrift. `port` defaults to a free one. With `ui_port`, the driver's web UI
    (and its REST API, /api/v1) listens there. Raises SparkStartError (with the log's
    tail) if the process exits or is not ready within `timeout` seconds."""
    state_dir = Path(state_dir).resolve()
    for sub in ("warehouse", "scratch", "local-scratch", "tmp", "spark-local"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    home = spark_home()
    settings = {
        **DEFAULT_CONF,
        "spark.sql.warehouse.dir": (state_dir / "warehouse").as_uri(),
        "spark.local.dir": str(state_dir / "spark-local"),
        # The metastore: an embedded Derby database in the state folder (not ./metastore_db).
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={state_dir / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": (
            f"{driver_java_options()} -Dderby.system.home={state_dir}"
            # Derby's background thread that refreshes index statistics as the metastore's
            # tables grow: 16 of the driver's ~290 CPU seconds in tests/spark (Java Flight
            # Recorder), for a catalog that plans nothing on them.
            " -Dderby.storage.indexStats.auto=false"
            f" -Djava.io.tmpdir={state_dir / 'tmp'}"
        ).strip(),
        **(conf or {}),
    }
    if ui_port:
        settings.update({"spark.ui.enabled": "true", "spark.ui.port": str(ui_port)})
    command = [
        str(home / "bin" / "spark-submit"),
        "--class",
        THRIFT_SERVER_CLASS,
        "--master",
        master,
        "--driver-memory",
        driver_memory,
        "--name",
        f"adtech-thriftserver-{port}",
    ]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    for key, value in {
        "hive.server2.thrift.port": str(port),
        "hive.server2.thrift.bind.host": HOST,
        "hive.exec.scratchdir": str(state_dir / "scratch"),
        "hive.exec.local.scratchdir": str(state_dir / "local-scratch"),
    }.items():
        command += ["--hiveconf", f"{key}={value}"]
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "JAVA_HOME": str(Path(_java()).resolve().parents[1]),
        "PYSPARK_PYTHON": sys.executable,
    }
    env.pop("SPARK_CONF_DIR", None)
    started = time.monotonic()
    with open(state_dir / LOG_NAME, "ab") as log:
        # A session of its own: stop() signals the whole group (spark-submit execs java, but a
        # wrapper shell may sit in between).
        process = subprocess.Popen(
            command,
            cwd=state_dir,  # derby.log and any stray relative path land here
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = SparkServer(HOST, port, state_dir, process, ui_port=ui_port)
    try:
        _wait_ready(server, started + timeout)
    except BaseException:
        server.stop(timeout=10)
        raise
    server.started_in = time.monotonic() - started
    return server


def _wait_ready(server: SparkServer, deadline: float) -> None:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not server.running():
            raise SparkStartError(
                f"the Spark Thrift Server exited with code {server.process.returncode}\n"
                + _tail(server.log_path)
            )
        # A plain TCP probe first: thrift logs an error for every refused connection.
        try:
            socket.create_connection((server.host, server.port), timeout=2).close()
        except OSError as exc:
            last_error = exc
            time.sleep(1)
            continue
        try:
            conn = server.connect()
            try:
                cursor = conn.cursor()
                cursor.execute("select 1")
                cursor.fetchall()
                return
            finally:
                conn.close()
        except Exception as exc:  # not listening yet, or the session not ready yet
            last_error = exc
            time.sleep(1)
    raise SparkStartError(
        f"the Spark Thrift Server did not accept a connection on {server.host}:{server.port} "
        f"in time (last error: {last_error})\n" + _tail(server.log_path)
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devstack.spark STATE_DIR", file=sys.stderr)
        return 2
    # A background job ignores SIGINT: SIGTERM stops the server too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = start_thrift_server(Path(argv[0]))
    for key, value in server.env.items():
        print(f"export {key}={value}", flush=True)
    print(f"# log: {server.log_path}; Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    return server.process.returncode or 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
