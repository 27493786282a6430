"""The same days on both dbt targets: PostgreSQL against Spark, from S3 to published.

    .venv/bin/python -m bench.spark_bench [--sizes 2000000,10000000] [--nights 1] [--local]
        [--targets default,spark] [--compare before=/tmp/old-checkout,after=.]

Starts a private local stack (PostgreSQL, moto's S3) and a Spark standalone cluster (a master and
two workers of 1 core and 768 MB, one 512 MB executor each; devstack/spark_cluster.py) with a
Thrift Server submitting to it (1 GB driver), in a temporary folder (`--local`: the Thrift Server
alone, `local[2]` with a 2 GB driver, as before the cluster), writes every day up front with
`adtech generate` (N ad events and N product views a day, as bench.night_bench counts them), then
per size and night runs `adtech run --date D --target default` (database `bench_pg`) and
`adtech run --date D --target spark` (database `bench_spark`: the marts are built on Spark and
landed in PostgreSQL, then published) on the same day, alternating which goes first. A first,
small day runs once on each target beforehand, uncounted: it creates the marts (the Spark one
also PostgreSQL's, through `dbt run --empty`). `--compare NAME=CHECKOUT,...` runs each target
from each checkout (e.g. `git archive <commit>` of the code before a change), each in a database
and a dbt target folder of its own, in rotating order on the same days and the same cluster.

Spark reads its raw days from a local `file://` copy of the bucket's objects (hadoop-aws, which
`s3a://` needs, is not installable here); the PostgreSQL target reads them from the S3 endpoint.
The copy is made before the night and not timed.

Each figure: wall time, and CPU seconds of every process that worked on the day: `adtech run`
itself (its rusage), the PostgreSQL server (the postmaster's own and reaped backends' CPU), the
Spark JVMs (the driver, and on the cluster each executor) and the S3 endpoint (/proc deltas).
Divided by the day's events (ad events + product views) they give the per-event costs
docs/SCALING.md extrapolates from. The machine's 1-minute load average is printed with every
figure (2 cores, shared). Nothing here asserts a time.

Memory, per Spark run: the peak resident memory of the driver and of each executor JVM (the
kernel's VmHWM, reset before the run), and the bytes the run's stages spilled (memory -> disk),
from the driver's REST API (`/api/v1/applications/<id>/stages`, the stages the run added). At
the end, each executor's memory as Spark's own metrics saw it over the application's life
(`allexecutors`: storage+execution memory, peak heap and execution memory, GC time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import boto3
import botocore.config
import psycopg2

from devstack import stack
from devstack.spark import SparkServer, start_thrift_server
from devstack.spark_cluster import start_cluster, start_thrift_server_on
from pipeline.settings import REPO_ROOT

ADTECH = (sys.executable, "-m", "pipeline")
FIRST_DAY = date(2025, 6, 1)
TICKS = os.sysconf("SC_CLK_TCK")
TARGETS = ("default", "spark")
MB = 1 << 20


@dataclass(frozen=True)
class Measure:
    wall: float
    cpu: dict[str, float]  # seconds per process group
    load: float  # 1-minute load average just before the run
    peak_rss: dict[str, int]  # MB, per watched JVM, during this run
    spilled: tuple[int, int] | None  # Spark stages' bytes spilled: (memory, disk), this run

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())


def proc_cpu(pid: int, children: bool = False) -> float:
    """A process's CPU seconds (user + system), with its reaped children's when asked."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command: state is field 3; utime 14, stime 15, cutime 16, cstime 17 (1-based).
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def children(pid: int) -> list[int]:
    """A process's children, whichever of its threads started them (a JVM starts its
    executors from a worker thread, not from the main one `/proc/PID/task/PID` names)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += (task / "children").read_text().split()
    return [int(c) for c in found]


def zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def postmaster_pid(st: stack.Stack) -> int:
    with psycopg2.connect(st.env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("select pg_postmaster_start_time(), pg_backend_pid()")
        backend = cur.fetchone()[1]
    return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def moto_pid(endpoint: str) -> int | None:
    port = endpoint.rsplit(":", 1)[-1].strip("/")
    found = subprocess.run(["pgrep", "-f", f"moto.server.*{port}"], capture_output=True, text=True)
    pids = [int(p) for p in found.stdout.split()]
    return pids[0] if pids else None


def reset_peak_rss(pid: int) -> None:
    """Start a new peak: writing 5 to clear_refs resets the kernel's VmHWM to the current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(pid: int) -> int:
    """A process's peak resident bytes since the last reset (the kernel's high-water mark: no
    sampling to miss a short peak). Only the JVM itself: a child it spawns shares its memory
    until exec (posix_spawn's vfork) and would count it twice."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def app_api(server: SparkServer) -> str:
    base = f"http://{server.host}:{server.ui_port}/api/v1/applications"
    (app,) = get_json(base)
    return f"{base}/{app['id']}"


def stage_spills(server: SparkServer | None) -> dict[tuple[int, int], tuple[int, int]]:
    """Every stage the driver's REST API still lists: (memory, disk) bytes spilled. A run's
    stages are those absent before it (the UI keeps the newest 1,000 stages)."""
    if server is None or not server.ui_port:
        return {}
    spills = {}
    for stage in get_json(f"{app_api(server)}/stages"):
        key = (stage["stageId"], stage["attemptId"])
        spills[key] = (stage.get("memoryBytesSpilled", 0), stage.get("diskBytesSpilled", 0))
    return spills


def executor_memory(server: SparkServer) -> list[str]:
    """Per executor (the driver included): its storage memory, and the peaks Spark's metrics
    saw over the application's life (heap; execution memory: joins', sorts', aggregates'
    buffers, which spill when they outgrow it)."""
    lines = []
    for e in get_json(f"{app_api(server)}/allexecutors"):
        peak = e.get("peakMemoryMetrics") or {}
        lines.append(
            f"  executor {e['id']:>6}: max storage+execution memory {e['maxMemory'] / MB:.0f} MB;"
            f" peak JVM heap {peak.get('JVMHeapMemory', 0) / MB:.0f} MB, off-heap"
            f" {peak.get('JVMOffHeapMemory', 0) / MB:.0f} MB, on-heap execution"
            f" {peak.get('OnHeapExecutionMemory', 0) / MB:.0f} MB, storage"
            f" {peak.get('OnHeapStorageMemory', 0) / MB:.0f} MB; tasks {e['totalTasks']},"
            f" shuffle written {e.get('totalShuffleWrite', 0) / MB:.0f} MB, GC"
            f" {e.get('totalGCTime', 0) / 1000:.1f} s"
        )
    return lines


def measure(
    command: list[str],
    env: dict[str, str],
    servers: dict[str, tuple[int, bool]],
    watch: dict[str, int],
    spark: SparkServer | None,
    cwd: Path = REPO_ROOT,
) -> Measure:
    load = os.getloadavg()[0]
    before = {name: proc_cpu(pid, kids) for name, (pid, kids) in servers.items()}
    stages_before = stage_spills(spark)
    for pid in watch.values():
        reset_peak_rss(pid)
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        peak = {name: round(peak_rss(pid) / MB) for name, pid in watch.items()}
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            sys.exit(f"{' '.join(command)} failed:\n{out.read().decode(errors='replace')[-4000:]}")
    cpu = {"adtech run": usage.ru_utime + usage.ru_stime}
    for name, (pid, kids) in servers.items():
        cpu[name] = proc_cpu(pid, kids) - before[name]
    spilled = None
    if spark is not None and spark.ui_port:
        new = [v for k, v in stage_spills(spark).items() if k not in stages_before]
        spilled = (sum(m for m, _ in new), sum(d for _, d in new))
    return Measure(wall, cpu, load, peak, spilled)


def generate(env: dict[str, str], start: date, days: int, events: int) -> None:
    started = time.perf_counter()
    subprocess.run(
        [*ADTECH, "generate", "--start", start.isoformat(), "--days", str(days), "--seed", "1",
         "--views-per-day", str(events), "--ad-events-per-day", str(events)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    print(f"  generated {days} day(s) of {events:,} ad events + {events:,} views in "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip


def copy_to_folder(s3, bucket: str, prefix: str, folder: Path) -> None:
    """The bucket's raw objects, same keys, under `folder` (Spark's file:// root)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            path = folder / obj["Key"]
            if path.exists() and path.stat().st_size == obj["Size"]:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))


def create_database(admin_url: str, name: str) -> str:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def report(row: str, contender: str, target: str, m: Measure, events: int) -> None:
    """One line of figures for `contender` (a target, or a target from another checkout with
    --compare) and, on Spark, its JVMs' peak memory and spills."""
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in m.cpu.items())
    print(
        f"  {row} {contender:<7}: wall {m.wall:7.2f} s, CPU {m.cpu_total:7.2f} s ({cpu}); "
        f"{m.wall / events * 1e6:.2f} us wall and {m.cpu_total / events * 1e6:.2f} us CPU per "
        f"event; load {m.load:.1f}",
        flush=True,
    )
    if target == "spark" and m.peak_rss:
        rss = ", ".join(f"{k} {v:,}" for k, v in m.peak_rss.items())
        print(f"    peak RSS MB: {rss}", flush=True)
    if target == "spark" and m.spilled is not None:
        print(f"    spilled: {m.spilled[0] / MB:,.0f} MB (their size in memory), "
              f"{m.spilled[1] / MB:,.0f} MB written to disk", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000000,10000000", help="ad events (= views) a day")
    parser.add_argument("--nights", type=int, default=1, help="nights per size and target")
    parser.add_argument("--targets", default="default,spark")
    parser.add_argument("--local", action="store_true", help="Spark in local mode, no cluster")
    parser.add_argument("--compare", default="", help="NAME=CHECKOUT,...: each target from each")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    targets = [t for t in args.targets.split(",") if t]
    checkouts = {
        name: Path(path).resolve()
        for name, path in (pair.split("=", 1) for pair in args.compare.split(",") if pair)
    } or {"": REPO_ROOT}

    root = Path(tempfile.mkdtemp(prefix="adtech-spark-bench-"))
    root.chmod(0o755)  # the PostgreSQL service user must reach its folder
    for key in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX"):
        os.environ.pop(key, None)
    st = stack.up(root, airflow_db=False)
    os.environ.update(st.env)
    # Days at size want the JVMs' defaults (C2, the parallel collector), not the local stack's
    # small-day options (devstack/spark.py), unless the caller chose otherwise.
    os.environ.setdefault("ADTECH_SPARK_JAVA_OPTIONS", "")
    os.environ.setdefault("ADTECH_SPARK_DRIVER_JAVA_OPTIONS", "")
    cluster = spark = None
    if "spark" in targets and args.local:
        spark = start_thrift_server(root / "spark")
    elif "spark" in targets:
        cluster = start_cluster(root / "spark")
        spark = start_thrift_server_on(cluster, root / "spark")
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
        if spark:
            print(f"Spark Thrift Server up in {spark.started_in:.1f} s", flush=True)
        raw = root / "raw-copy"
        base = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_TARGET_PATH": str(root / "target"),
            "DBT_LOG_PATH": str(root / "dbt-logs"),
        }
        # Each contender: a target run from a checkout, with its database and dbt state.
        contenders: dict[str, tuple[str, Path, dict[str, str]]] = {}
        for name, checkout in checkouts.items():
            label = f"-{name}" if name else ""
            own = {**base, "DBT_TARGET_PATH": str(root / f"target{label}")}
            if "default" in targets:
                contenders[f"default{label}"] = ("default", checkout, {
                    **own,
                    "DATABASE_URL": create_database(st.env["DATABASE_URL"], f"bench_pg{label}"),
                })  # fmt: skip
            if "spark" in targets:
                contenders[f"spark{label}"] = ("spark", checkout, {
                    **own,
                    **(spark.env if spark else {}),
                    "DATABASE_URL": create_database(
                        st.env["DATABASE_URL"], f"bench_spark{label}"),
                    "ADTECH_SPARK_RAW_ROOT": raw.as_uri(),  # + ADTECH_S3_PREFIX (raw/)
                    "ADTECH_SPARK_EXPORT_ROOT": (root / f"spark-exports{label}").as_uri() + "/",
                })  # fmt: skip
        servers = {"postgres": (postmaster_pid(st), True)}
        watch: dict[str, int] = {}  # the JVMs whose peak resident memory is reported
        if spark:
            servers["spark driver" if cluster else "spark"] = (spark.process.pid, True)
            watch["driver" if cluster else "spark"] = spark.process.pid
        for worker in cluster.workers if cluster else []:
            # The executor JVMs: children of the workers, alive for the application's life.
            # (A worker also leaves a reaped-late launcher shell behind: a zombie, skipped.)
            executors = [pid for pid in children(worker.pid) if not zombie(pid)]
            for i, pid in enumerate(executors):
                servers[f"executor {worker.name}.{i}"] = (pid, False)
                watch[f"executor {worker.name}.{i}"] = pid
        if pid := moto_pid(st.env["AWS_ENDPOINT_URL_S3"]):
            servers["s3"] = (pid, False)
        s3 = boto3.client(
            "s3",
            endpoint_url=st.env["AWS_ENDPOINT_URL_S3"],
            config=botocore.config.Config(s3={"addressing_style": "path"}),
        )
        bucket = st.env["ADTECH_S3_BUCKET"]

        warm = FIRST_DAY - timedelta(days=1)
        generate(base, warm, 1, 20_000)
        copy_to_folder(s3, bucket, "raw/", raw)
        for label, (target, checkout, env) in contenders.items():
            m = measure([*ADTECH, "run", "--date", warm.isoformat(), "--target", target],
                        env, servers, watch, spark, checkout)  # fmt: skip
            report("warm-up (20k, creates the marts)", label, target, m, 40_000)

        start = FIRST_DAY
        results: dict[tuple[int, str], list[Measure]] = {}
        for size in sizes:
            print(f"\n{size:,} ad events + {size:,} product views a day", flush=True)
            days = [start + timedelta(days=i) for i in range(args.nights)]
            generate(base, days[0], len(days), size)
            copy_to_folder(s3, bucket, "raw/", raw)
            for i, day in enumerate(days):
                labels = list(contenders)
                for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
                    target, checkout, env = contenders[label]
                    m = measure([*ADTECH, "run", "--date", day.isoformat(), "--target", target],
                                env, servers, watch, spark, checkout)  # fmt: skip
                    results.setdefault((size, label), []).append(m)
                    report(str(day), label, target, m, 2 * size)
            start += timedelta(days=len(days))
        print("\nbest night per size and target:", flush=True)
        for (size, label), runs in results.items():
            best = min(runs, key=lambda m: m.wall)
            report(f"{size:>10,}", label, contenders[label][0], best, 2 * size)
        if spark and spark.ui_port:
            print("\nSpark's executors over the whole application (REST API):", flush=True)
            print("\n".join(executor_memory(spark)), flush=True)
    finally:
        if spark:
            spark.stop()
        if cluster:
            cluster.stop()
        stack.destroy(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
