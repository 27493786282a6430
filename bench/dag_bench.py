"""Orchestration benchmark (issue 5): DAG parse time and Airflow's overhead per day.

    .venv/bin/python -m bench.dag_bench [--events 200000]

1. Parse: DagBag of dags/ (Cosmos renders four task groups from target/manifest.json), against
   the same-run baseline of a DagBag holding one trivial DAG. Target: under 1 s.
2. Overhead: one day run with `airflow dags test`; overhead = wall time - the sum of its task
   instances' durations (from Airflow's metadata). Baseline: the same steps for another day of the
   same size with `adtech run` (no scheduler) in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from devstack import stack
from pipeline.airflow_env import airflow_env, dags_test, migrate, task_instances
from pipeline.settings import REPO_ROOT
from pipeline.transform import dbt_parse

TRIVIAL_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("trivial", start_date=pendulum.datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="noop")
"""

PARSE_PROBE = """
import sys, time, statistics
from airflow.dag_processing.dagbag import DagBag
DagBag(dag_folder=sys.argv[1])  # warm imports (airflow, cosmos, dbt) once
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    times.append(time.perf_counter() - started)
    assert not bag.import_errors, bag.import_errors
tasks = sum(len(d.tasks) for d in bag.dags.values())
print("RESULT", statistics.median(times), len(bag.dags), tasks)
"""


def parse_seconds(folder: Path, env: dict, repeat: int = 5) -> tuple[float, int, int]:
    stdout = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(folder), str(repeat)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Airflow logs to stdout too: the figures are on the line marked RESULT.
    result = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    _, seconds, dags, tasks = result.split()
    return float(seconds), int(dags), int(tasks)


def task_seconds(env: dict, day: str) -> tuple[float, int]:
    durations = [duration or 0.0 for _, duration in task_instances(env, day).values()]
    return sum(durations), len(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events", type=int, default=200_000, help="ad events (and product views) per day"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="adtech-dag-bench-"))
    root.chmod(0o755)
    for key in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(key, None)
    st = stack.up(root)
    os.environ.update(st.env)
    try:
        env = airflow_env(home=root / "airflow")
        env["ADTECH_TASK_RETRIES"] = "0"
        dbt_parse()

        trivial = root / "trivial_dags"
        trivial.mkdir()
        (trivial / "trivial.py").write_text(textwrap.dedent(TRIVIAL_DAG))
        ours, _, tasks = parse_seconds(REPO_ROOT / "dags", env)
        base, _, _ = parse_seconds(trivial, env)
        print(f"parse  dags/ ({tasks} tasks): {ours * 1000:7.1f} ms   target < 1000 ms")
        print(f"parse  trivial DAG (baseline): {base * 1000:7.1f} ms")

        days = ["2024-11-20", "2024-11-21"]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "generate",
                "--start",
                days[0],
                "--days",
                "2",
                "--seed",
                "1",
                "--views-per-day",
                str(args.events),
                "--ad-events-per-day",
                str(args.events),
            ],
            env=env,
            check=True,
        )
        migrate(env)
        started = time.perf_counter()
        result = dags_test(env, days[0])
        wall = time.perf_counter() - started
        assert result.returncode == 0, result.stdout[-3000:]
        work, count = task_seconds(env, days[0])

        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--date", days[1]],
            env=env,
            check=True,
            capture_output=True,
        )
        direct = time.perf_counter() - started
        print(
            f"airflow dags test: wall {wall:6.1f} s, {count} task instances, work {work:6.1f} s,"
            f" overhead {wall - work:6.1f} s ({(wall - work) / count:.2f} s per task)"
        )
        print(
            f"adtech run (no scheduler, baseline): wall {direct:6.1f} s;"
            f" dags test / run = {wall / direct:.2f}x"
        )
    finally:
        stack.down(root)


if __name__ == "__main__":
    main()
