"""Orchestration benchmark: DAG parse time and Airflow's overhead per day.

    .venv/bin/python -m bench.dag_bench [--events 200000]
    .venv/bin/python -m bench.dag_bench --compare NAME=DAGS_FOLDER,... [--nights 3] [--noop]
        [--scheduler]
    .venv/bin/python -m bench.dag_bench --backfill 30 [--backfill-dags DAGS_FOLDER]
    .venv/bin/python -m bench.dag_bench --range 30 [--rounds 1] [--scheduler]

1. Parse: DagBag of dags/ (the two DAGs, rendered by Cosmos from dbt's manifest), against
   the same-run baseline of a DagBag holding one trivial DAG. Target: under 1 s.
2. Overhead: one day run with `airflow dags test`; overhead = wall time - the sum of its task
   instances' durations (from Airflow's metadata). Baseline: the same steps for another day of the
   same size with `adtech run` (no scheduler) in the same run.

With --compare: DAG variants A/B. Each NAME=DAGS_FOLDER is a dags folder holding a
version of adtech_recommendations.py (e.g. one taken from a commit: `git show
REV:dags/adtech_recommendations.py`, with REPO_ROOT pointed at the checkout); each gets a metadata
database of its own. Every night, on NEW dates, each variant runs `airflow dags test` for one day
and `adtech run` runs another, the order rotating night by night; after one uncounted warm-up
night. Prints each night (with each variant's costliest task instances, from its metadata),
each contender's best, and each variant's best / adtech run's best.
A dags folder whose parent is a checkout (e.g. `git worktree add /tmp/main main`) runs with that
checkout first on PYTHONPATH, so an older DAG runs with its own pipeline code. With --noop, each
variant's no-op twin (the same task ids, trigger rules and edges, every task doing nothing) runs
as a contender too; with two variants ONE_BUILD=...,PER_MODEL=... the bench prints the per-model
DAG's target: the one-build DAG's day + the difference of the twins (Airflow's own cost of the
added task instances) + 10 %. With --scheduler, each variant's day also runs as production runs
it: triggered on a running `airflow standalone` of its own (`airflow dags trigger
adtech_recommendations -c '{"run_date": D}'`; LocalExecutor, so the three loads run at once, one
process per task), timed from the trigger until the bench sees the run finished.

With --backfill N: N new days through Airflow against N pandas nights. First the
pandas baseline runs the N days one after another; then `airflow standalone` (scheduler, DAG
processor, API server, LocalExecutor with parallelism 2) starts with the DAG paused, its start and
end dates on the first and last day, and once it is registered it is unpaused. The N catch-up
runs go one after another (max_active_runs=1, as the shared intermediate tables require); the
time is from the first run's start to the last one's end (Airflow's metadata). The server's
start-up is not counted (a scheduler is always up).

With --range N (the backfill target): N days in ONE run of the `adtech_backfill` DAG
(`airflow dags test adtech_backfill -c '{"start": D1, "end": DN}'`: one dbt build for the range),
against N pandas nights one after another, and against the same range through `adtech backfill`
(no scheduler). Each contender works on N new days of its own; the order rotates round by round,
after an uncounted warm-up round of 2 days each. After each range the bench checks that every
day of it is published. A fourth contender, `airflow no-op range`, runs the same command on the
backfill DAG's twin whose tasks do nothing (its own metadata database): Airflow's own cost for a
run of that shape. With `adtech backfill`, round by round, it gives the floor of any one-run DAG
under `airflow dags test`. Prints each round, the DAG run's tasks (Airflow's metadata), and the
ratios to pandas. With --scheduler, a fifth contender: the range triggered on a running
`airflow standalone` (`airflow dags trigger adtech_backfill -c ...`; LocalExecutor, parallelism
2, one process per task), timed from the trigger command until the run is seen finished.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from bench.night_bench import Measure, generate, measure
from bench.private_stack import private_stack
from pipeline.airflow.env import DAG_ID, airflow_env, dags_test, migrate, task_instances
from pipeline.settings import REPO_ROOT

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


def variant_env(env: dict, name: str, folder: Path, root: Path) -> dict:
    """Airflow's settings for one DAG variant: its dags folder and a metadata database of its
    own (the variants share the DAG id)."""
    database = f"airflow_{name.lower()}"
    conn = psycopg2.connect(env["DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (database,))
        if cur.fetchone() is None:
            cur.execute(f'create database "{database}"')
    conn.close()
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[0] + "/" + database
    flow = {
        **env,
        "AIRFLOW_HOME": str(root / f"airflow-{name}"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
    }
    if (folder.parent / "pipeline").is_dir():  # a checkout of another commit: its own code
        flow["PYTHONPATH"] = os.pathsep.join([str(folder.parent), env.get("PYTHONPATH", "")])
    migrate(flow)
    return flow


def compare(
    env: dict,
    root: Path,
    variants: dict[str, Path],
    nights: int,
    events: int,
    noop: bool = False,
    scheduler: bool = False,
) -> None:
    dags = dict(variants)
    if noop:  # each variant's no-op twin: Airflow's own cost for a day of that shape
        dags |= {
            f"noop-{name}": noop_night_dags(folder, root, env) for name, folder in variants.items()
        }
    envs = {
        name: variant_env(env, name.replace("-", "_"), folder, root)
        for name, folder in dags.items()
    }
    scheduled = {f"{name} scheduled": name for name in variants} if scheduler else {}
    contenders = [*dags, *scheduled, "adtech run"]
    first = dt.date(2025, 3, 1)
    days = [first + dt.timedelta(days=i) for i in range((nights + 1) * len(contenders))]
    subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--start", days[0].isoformat(),
         "--days", str(len(days)), "--seed", "1", "--views-per-day", str(events),
         "--ad-events-per-day", str(events)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip

    def command(name: str, day: str) -> tuple[list[str], dict]:
        if name == "adtech run":
            return [sys.executable, "-m", "pipeline", "run", "--date", day], env
        conf = f'{{"run_date": "{day}"}}'
        return ["airflow", "dags", "test", DAG_ID, day, "--conf", conf], envs[name]

    walls: dict[str, list[float]] = {name: [] for name in contenders}
    pending = iter(days)
    flows: dict[str, dict] = {}
    for label, name in scheduled.items():  # a metadata database of its own
        flows[label] = variant_env(env, f"sched_{name}", variants[name], root)
        # No catch-up of the schedule: the bench's runs are the triggered ones.
        flows[label]["ADTECH_DAG_START_DATE"] = "2099-01-01"
    _compare_nights(contenders, nights, pending, command, flows, envs, variants, walls, root)
    _compare_results(walls, variants, noop, scheduled)


def _compare_nights(
    contenders, nights, pending, command, flows, envs, variants, walls, root
) -> None:
    for night in range(nights + 1):
        order = contenders[night % len(contenders) :] + contenders[: night % len(contenders)]
        figures = []
        for name in order:
            day = next(pending).isoformat()
            if name in flows:
                # The scheduler runs only for its own contender's day (it would load the others'
                # machine); its start-up is not counted, nor its first seconds.
                with standalone(flows[name], root, DAG_ID):
                    time.sleep(15)
                    done = _scheduled_night(flows[name], day)
            else:
                done = measure(*command(name, day))
            figures.append(
                f"{name} {done.wall:6.2f} s (load {done.load:4.1f}, {done.peak_mb:.0f} MB)"
            )
            if name in variants or name in flows:
                tasks = _night_tasks(envs[name] if name in variants else flows[name])
                print(f"    {name}'s tasks, s: {tasks}", flush=True)
            if night:  # the first night is a warm-up: marts, metadata, caches
                walls[name].append(done.wall)
        print(
            f"  night {night}{' (warm-up)' if not night else ''}: " + " | ".join(figures),
            flush=True,
        )


def _compare_results(walls, variants, noop, scheduled) -> None:
    base = walls["adtech run"]
    if noop and len(variants) == 2:
        # The target of the per-model DAG (second variant) against the one-build DAG (first):
        # its day at most the first's plus what Airflow takes for its added task instances
        # (the difference of the two no-op twins), plus 10 %.
        first, second = variants
        added = min(walls[f"noop-{second}"]) - min(walls[f"noop-{first}"])
        target = (min(walls[first]) + added) * 1.10
        print(
            f"  {second}: best {min(walls[second]):.2f} s; target (best {first}"
            f" {min(walls[first]):.2f} s + added task instances {added:.2f} s) x 1.10 ="
            f" {target:.2f} s: {'met' if min(walls[second]) <= target else 'NOT met'}",
            flush=True,
        )
    for name in [*variants, *scheduled]:
        ratios = [a / b for a, b in zip(walls[name], base, strict=True)]
        print(
            f"  {name}: best {min(walls[name]):.2f} s, adtech run best {min(base):.2f} s,"
            f" ratio {min(walls[name]) / min(base):.2f} (median of the nights' ratios"
            f" {statistics.median(ratios):.2f}; target <= 1.5)",
            flush=True,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _metadata_rows(flow: dict, sql: str, *params) -> list[tuple]:
    url = flow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    try:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    except psycopg2.Error:  # tables not there yet
        return []


@contextlib.contextmanager
def standalone(flow: dict, root: Path, dag_id: str) -> Iterator[None]:
    """`airflow standalone` (scheduler, DAG processor, API server, LocalExecutor) on `flow`'s
    metadata database, its DAGs paused at creation; `dag_id` unpaused once registered. Its
    start-up is not counted (a scheduler is always up)."""
    port = _free_port()
    flow.update(
        {
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        }
    )
    log = open(root / f"standalone-{dag_id}.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        ["airflow", "standalone"], env=flow, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        # `airflow dags unpause` exits 0 before the DAG processor has registered the DAG: wait
        # for the DAG in the metadata first.
        deadline = time.monotonic() + 900
        while not _metadata_rows(flow, "select 1 from dag where dag_id = %s", dag_id):
            assert time.monotonic() < deadline, "the DAG was not registered in 900 s"
            time.sleep(3)
        subprocess.run(["airflow", "dags", "unpause", dag_id], env=flow, check=True)
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=120)
        log.close()


def backfill(env: dict, root: Path, count: int, events: int, dags: Path) -> None:
    days = [dt.date(2025, 6, 1) + dt.timedelta(days=i) for i in range(count)]
    subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--start", days[0].isoformat(),
         "--days", str(count), "--seed", "1", "--views-per-day", str(events),
         "--ad-events-per-day", str(events)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    pandas = [measure([sys.executable, "-m", "bench.pandas_baseline", "--date", d.isoformat()], env)
              for d in days]  # fmt: skip
    total = sum(m.wall for m in pandas)
    walls, loads = [m.wall for m in pandas], [m.load for m in pandas]
    print(
        f"  {count} pandas nights one after another: {total:.1f} s (each {min(walls):.2f}"
        f"-{max(walls):.2f} s, load {min(loads):.1f}-{max(loads):.1f})",
        flush=True,
    )
    flow = variant_env(env, "backfill", dags, root)
    flow["ADTECH_DAG_START_DATE"] = days[0].isoformat()
    flow["ADTECH_DAG_END_DATE"] = days[-1].isoformat()
    with standalone(flow, root, DAG_ID):
        load = os.getloadavg()[0]
        finished: list[tuple] = []
        while len(finished) < count:
            time.sleep(2)
            finished = _metadata_rows(
                flow,
                "select state, extract(epoch from end_date - start_date) from dag_run"
                " where dag_id = %s and state in ('success', 'failed')",
                DAG_ID,
            )
        # From the first run's start to the last one's end (Airflow's own clock).
        ((wall,),) = _metadata_rows(
            flow,
            "select extract(epoch from max(end_date) - min(start_date)) from dag_run"
            " where dag_id = %s",
            DAG_ID,
        )
        wall = float(wall)
    states = sorted({state for state, _ in finished})
    spans = [float(s) for _, s in finished]
    (work,) = _metadata_rows(
        flow, "select sum(duration), count(*) from task_instance where dag_id = %s", DAG_ID
    )
    print(
        f"  {count}-day catch-up through Airflow: {wall:.1f} s from the first run's start to the"
        f" last run's end (runs {states}; each run {min(spans):.1f}-{max(spans):.1f} s, median"
        f" {statistics.median(spans):.1f} s; {work[1]} task instances, their durations sum to"
        f" {work[0]:.1f} s; load {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)",
        flush=True,
    )
    print(f"  Airflow / pandas: {wall / total:.2f} (target <= 1.0)", flush=True)


BACKFILL_DAG = "adtech_backfill"
RANGE_CONTENDERS = ("pandas", "airflow range", "adtech backfill", "airflow no-op range")

NOOP_DAG = """
import pendulum
from airflow.sdk import DAG, Param, task

TASKS = {tasks!r}  # task id -> trigger rule, as in the real DAG
EDGES = {edges!r}  # (upstream, downstream)

with DAG(
    "{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    params={params},
    default_args={{"retries": 0}},
):
    made = {{
        task_id: task(task_id=task_id, trigger_rule=rule)(lambda: None)()
        for task_id, rule in TASKS.items()
    }}
    for upstream, downstream in EDGES:
        made[upstream] >> made[downstream]
"""


def noop_range_dags(root: Path, env: dict) -> Path:
    """A dags folder with the backfill DAG's twin: the same id, tasks, trigger rules and
    dependencies, every task doing nothing. Its run under `airflow dags test` is what Airflow
    itself costs for a run of that shape (start-up, DAG parse and serialisation, the in-process
    execution API, each task's state changes): the floor's other half."""
    tasks, edges = dag_shape(REPO_ROOT, "adtech_backfill", env)
    folder = root / "noop_dags"
    folder.mkdir(exist_ok=True)
    (folder / "noop_backfill.py").write_text(
        NOOP_DAG.format(tasks=tasks, edges=edges, dag_id=BACKFILL_DAG, params=RANGE_PARAMS)
    )
    return folder


RANGE_PARAMS = '{"start": Param(type="string"), "end": Param(type="string")}'
NIGHT_PARAMS = '{"run_date": Param(None, type=["null", "string"])}'
# A DAG's tasks and edges, printed by a process importing it from a checkout.
SHAPE_PROBE = """
import importlib, json, sys
dag = importlib.import_module("dags." + sys.argv[1]).dag
tasks = {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks}
edges = sorted((u, t.task_id) for t in dag.tasks for u in t.upstream_task_ids)
print("RESULT " + json.dumps([tasks, edges]))
"""


def dag_shape(checkout: Path, module: str, env: dict) -> tuple[dict, list[tuple]]:
    """The task ids (with trigger rules) and edges of dags/<module>.py in `checkout`, rendered
    in a child process with Airflow's settings of `env` (Cosmos's cache folder among them)."""
    probe_env = {**env, "PYTHONPATH": os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")])}
    stdout = subprocess.run(
        [sys.executable, "-c", SHAPE_PROBE, module], cwd=checkout, env=probe_env, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    tasks, edges = json.loads(next(x for x in stdout.splitlines() if x.startswith("RESULT "))[7:])
    return tasks, [tuple(edge) for edge in edges]


def noop_night_dags(variant: Path, root: Path, env: dict) -> Path:
    """The nightly DAG's twin for a variant's dags folder (its checkout's code): the same task
    ids, trigger rules and edges, every task doing nothing; run with `airflow dags test`, it is
    what Airflow itself costs for a day of that shape (its task instances included)."""
    tasks, edges = dag_shape(variant.parent, "adtech_recommendations", env)
    folder = root / f"noop_{variant.parent.name}_{len(tasks)}"
    folder.mkdir(exist_ok=True)
    (folder / "noop_night.py").write_text(
        NOOP_DAG.format(tasks=tasks, edges=edges, dag_id=DAG_ID, params=NIGHT_PARAMS)
    )
    return folder


def _run_contender(name: str, days: list[dt.date], env: dict) -> Measure:
    """One contender over `days`: pandas night by night (its walls summed), or one range."""
    first, last = days[0].isoformat(), days[-1].isoformat()
    if name == "pandas":
        nights = [
            measure([sys.executable, "-m", "bench.pandas_baseline", "--date", d.isoformat()], env)
            for d in days
        ]
        return Measure(sum(m.wall for m in nights), max(m.peak_mb for m in nights), nights[0].load)
    if name in ("airflow range", "airflow no-op range"):
        conf = json.dumps({"start": first, "end": last})
        done = measure(["airflow", "dags", "test", BACKFILL_DAG, "-c", conf], env)
        if name == "airflow no-op range":
            return done  # it publishes nothing
    else:
        done = measure([sys.executable, "-m", "pipeline", "backfill", "--start", first,
                        "--end", last], env)  # fmt: skip
    _check_published(env, name, days)
    return done


def _check_published(env: dict, name: str, days: list[dt.date]) -> None:
    with psycopg2.connect(env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from ops.published_days where date between %s and %s",
            (days[0], days[-1]),
        )
        (published,) = cur.fetchone()
    assert published == len(days), f"{name}: {published} of {len(days)} days published"


def _triggered(flow: dict, dag_id: str, run_id: str, conf: dict) -> tuple[float, float, str]:
    """Trigger one run on the running scheduler (`airflow dags trigger`, as a user types it) and
    poll every second until the bench sees it finished: (wall seconds, load before, state)."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(
        ["airflow", "dags", "trigger", dag_id, "-r", run_id, "-c", json.dumps(conf)],
        env=flow, check=True, capture_output=True,
    )  # fmt: skip
    state = None
    while state not in ("success", "failed"):
        time.sleep(1)
        rows = _metadata_rows(
            flow, "select state from dag_run where dag_id = %s and run_id = %s", dag_id, run_id
        )
        state = rows[0][0] if rows else None
    return time.perf_counter() - started, load, state


def _scheduled_range(flow: dict, days: list[dt.date]) -> Measure:
    """One range triggered on the running scheduler."""
    first, last = days[0].isoformat(), days[-1].isoformat()
    run_id = f"bench__{first}__{last}"
    wall, load, state = _triggered(flow, BACKFILL_DAG, run_id, {"start": first, "end": last})
    assert state == "success", f"scheduled range {first}..{last}: {state}"
    ((span,),) = _metadata_rows(
        flow,
        "select extract(epoch from end_date - start_date) from dag_run where run_id = %s",
        run_id,
    )
    print(f"    scheduled range: the run itself {float(span):.1f} s (Airflow's clock)", flush=True)
    return Measure(wall, 0.0, load)


def _scheduled_night(flow: dict, day: str) -> Measure:
    """One day of the nightly DAG triggered on its running scheduler, as an operator does."""
    wall, load, state = _triggered(flow, DAG_ID, f"bench__{day}", {"run_date": day})
    assert state == "success", f"scheduled day {day}: {state}"
    return Measure(wall, 0.0, load)


def _night_tasks(flow: dict) -> str:
    """The latest nightly DAG run's costliest tasks, and the rest summed (Airflow's metadata):
    where a variant's day goes."""
    rows = _metadata_rows(
        flow,
        "select task_id, duration from task_instance where dag_id = %s and run_id ="
        " (select run_id from dag_run where dag_id = %s order by id desc limit 1)"
        " and duration is not null order by duration desc",
        DAG_ID,
        DAG_ID,
    )
    durations = [(task, float(seconds)) for task, seconds in rows]
    top, rest = durations[:6], durations[6:]
    shown = ", ".join(f"{task} {seconds:.1f}" for task, seconds in top)
    others = f"; {len(rest)} others {sum(s for _, s in rest):.1f}" if rest else ""
    return f"{shown}{others} (sum {sum(s for _, s in durations):.1f} s)"


def _range_tasks(env: dict) -> str:
    """The latest backfill DAG run's tasks and their durations (Airflow's metadata)."""
    rows = _metadata_rows(
        env,
        "select task_id, duration from task_instance where dag_id = %s and run_id ="
        " (select run_id from dag_run where dag_id = %s order by id desc limit 1)"
        " and duration is not null order by start_date",
        BACKFILL_DAG,
        BACKFILL_DAG,
    )
    total = sum(float(d) for _, d in rows)
    return ", ".join(f"{t} {float(d):.1f}" for t, d in rows) + f" (sum {total:.1f} s)"


def _drop_logs(env: dict, days: list[dt.date]) -> None:
    """Delete the days' logs from the bench's S3 once used (moto keeps objects in memory)."""
    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    bucket = env["ADTECH_S3_BUCKET"]
    for day in days:
        for source in ("advertiser_ids", "product_views", "ads_views"):
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/{source}/date={day}/")
            for obj in listed.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])


def range_backfill(
    env: dict, root: Path, count: int, events: int, rounds: int, scheduler: bool
) -> None:
    migrate(env)
    contenders = RANGE_CONTENDERS + (("scheduled range",) if scheduler else ())
    sizes = [2] + [count] * rounds  # round 0: the warm-up
    days = [dt.date(2025, 9, 1) + dt.timedelta(days=i) for i in range(4 * sum(sizes))]
    pending = iter(days)
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    noop = variant_env(env, "noop", noop_range_dags(root, env), root)
    with contextlib.ExitStack() as stack:
        if scheduler:  # its own metadata database: `dags test` runs must not reach it
            flow = variant_env(env, "scheduled", REPO_ROOT / "dags", root)
            stack.enter_context(standalone(flow, root, BACKFILL_DAG))
        for number, size in enumerate(sizes):
            shift = number % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            figures = []
            for name in order:
                block = [next(pending) for _ in range(size)]
                generate(env, block[0], size, events)  # new days for each contender, not timed
                if name == "scheduled range":
                    done = _scheduled_range(flow, block)
                    _check_published(env, name, block)
                    print(f"    the scheduled run's tasks, s: {_range_tasks(flow)}", flush=True)
                else:
                    done = _run_contender(name, block, noop if "no-op" in name else env)
                _drop_logs(env, block)
                figures.append(f"{name} {done.wall:7.1f} s (load {done.load:4.1f})")
                if number:
                    walls[name].append(done.wall)
                if name == "airflow range":
                    print(f"    the DAG run's tasks, s: {_range_tasks(env)}", flush=True)
            label = f"round {number}" + (" (warm-up, 2 days)" if not number else f", {size} days")
            print(f"  {label}: " + " | ".join(figures), flush=True)
    pandas = walls["pandas"]
    for name in contenders[1:]:
        ratios = [a / b for a, b in zip(walls[name], pandas, strict=True)]
        print(
            f"  {name}: best {min(walls[name]):.1f} s, pandas best {min(pandas):.1f} s,"
            f" {name} / pandas {min(walls[name]) / min(pandas):.2f} (rounds' ratios"
            f" {', '.join(f'{r:.2f}' for r in ratios)}"
            + ("; target <= 1.0)" if name == "airflow range" else ")"),
            flush=True,
        )
    # The floor of a range through `airflow dags test`: the same work without Airflow (`adtech
    # backfill`) plus what Airflow costs for a run of the DAG's shape that does nothing.
    floors = [
        a + b for a, b in zip(walls["adtech backfill"], walls["airflow no-op range"], strict=True)
    ]
    ratios = [f / p for f, p in zip(floors, pandas, strict=True)]
    above = [a - f for a, f in zip(walls["airflow range"], floors, strict=True)]
    print(
        f"  floor (adtech backfill + airflow no-op range): best {min(floors):.1f} s, floor /"
        f" pandas {min(floors) / min(pandas):.2f} (rounds' ratios"
        f" {', '.join(f'{r:.2f}' for r in ratios)}); airflow range above its floor:"
        f" {', '.join(f'{a:+.1f} s' for a in above)}",
        flush=True,
    )
    print(f"  load average at the end: {os.getloadavg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events", type=int, default=200_000, help="ad events (and product views) per day"
    )
    parser.add_argument("--compare", help="NAME=DAGS_FOLDER,... : DAG variants, A/B")
    parser.add_argument("--nights", type=int, default=3, help="counted nights with --compare")
    parser.add_argument(
        "--noop", action="store_true", help="--compare also runs each variant's no-op twin"
    )
    parser.add_argument("--backfill", type=int, default=0, help="days of a backfill vs pandas")
    parser.add_argument("--backfill-dags", default=str(REPO_ROOT / "dags"), help="dags folder")
    parser.add_argument("--range", type=int, default=0, help="days of one backfill DAG run")
    parser.add_argument("--rounds", type=int, default=1, help="counted rounds with --range")
    parser.add_argument(
        "--scheduler",
        action="store_true",
        help="--range and --compare also on airflow standalone (triggered)",
    )
    args = parser.parse_args()

    with private_stack("dag-bench") as private:
        root = private.root
        # On private_stack's settings: dbt's partial-parse state in the bench's own target folder.
        env = airflow_env(home=root / "airflow", base=private.env)
        env["ADTECH_TASK_RETRIES"] = "0"
        if args.compare:
            variants = dict(item.split("=", 1) for item in args.compare.split(","))
            folders = {k: Path(v) for k, v in variants.items()}
            compare(env, root, folders, args.nights, args.events, args.noop, args.scheduler)
            return
        if args.backfill:
            backfill(env, root, args.backfill, args.events, Path(args.backfill_dags))
            return
        if args.range:
            range_backfill(env, root, args.range, args.events, args.rounds, args.scheduler)
            return

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


if __name__ == "__main__":
    main()
