"""A night against pandas: `adtech run` and the DAG against bench/pandas_baseline.py.

    .venv/bin/python -m bench.night_bench [--sizes 200000,2000000] [--nights 3] [--dag-nights 2]
                                          [--parse-rounds 3] [--loads]

Starts a private local stack in a temporary folder and writes every day up front with
`adtech generate` (N ad events and N product views a day, per size), then, each night on a NEW
date, as every real night is:

1. `adtech run --date D` and `python -m bench.pandas_baseline --date D` on the same S3 objects,
   alternating which goes first (the first size's first day runs once each beforehand,
   uncounted: the first `adtech run` on a new database creates the marts). Reports each
   contender's best night, the ratio of the bests (the target's figure) and the median of the
   nights' ratios. Peak RSS is the largest single process of each contender (the child's
   rusage from wait4; the PostgreSQL server's memory is not in it). Both run in the same
   database, the baseline in its own schema.
2. At --dag-events (200k), `airflow dags test` for one new day against `adtech run` for another.
3. The price of the run date reaching dbt (--parse-rounds): `dbt parse --vars '{run_date: D}'`
   against `ADTECH_RUN_DATE=D dbt parse`, each with a new D every round and its own target
   folder (partial-parse state), alternating.
4. With --loads, at the largest size: the three loads one after another (`adtech load`) against
   at once (pipeline.flow.sequence.load_all, as `adtech run` does), each on a new date.

The machine's 1-minute load average is printed with every figure. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench.private_stack import private_stack
from pipeline.airflow.env import DAG_ID, airflow_env, migrate
from pipeline.settings import REPO_ROOT

BIN = Path(sys.executable).parent
ADTECH = (sys.executable, "-m", "pipeline")
PANDAS = (sys.executable, "-m", "bench.pandas_baseline")
LOAD_ALL = (
    "import sys, datetime; from pipeline.flow.sequence import load_all; "
    "load_all(datetime.date.fromisoformat(sys.argv[1]))"
)
FIRST_DAY = date(2025, 1, 1)  # each section takes its own range of days after this one


@dataclass(frozen=True)
class Measure:
    wall: float
    peak_mb: float
    load: float  # 1-minute load average just before the run
    output: str = ""  # the end of what it printed


def measure(command: list[str] | tuple[str, ...], env: dict[str, str]) -> Measure:
    """Wall time and peak RSS of one command; its output goes to a file, shown if it fails."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=out, stderr=out)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the sum
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read().decode(errors="replace")[-4000:]
        if child.returncode != 0:
            sys.exit(f"{' '.join(command)} exited {child.returncode}:\n{tail}")
    return Measure(wall, usage.ru_maxrss / 1024, load, tail)  # ru_maxrss is in KiB on Linux


def days_from(start: date, count: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]


def generate(env: dict[str, str], start: date, days: int, events: int) -> None:
    started = time.perf_counter()
    subprocess.run(
        [
            *ADTECH,
            "generate",
            "--start",
            start.isoformat(),
            "--days",
            str(days),
            "--seed",
            "1",
            "--views-per-day",
            str(events),
            "--ad-events-per-day",
            str(events),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    print(
        f"  generated {days} days of {events:,} ad events + {events:,} views "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


Round = tuple[list[str], dict[str, str], list[str], dict[str, str]]  # A's command, env; B's


def duel(names: tuple[str, str], rounds: list[Round], labels: list[str]) -> tuple[list, list]:
    """Each round's two commands, A first on even rounds and B first on odd ones."""
    a_runs: list[Measure] = []
    b_runs: list[Measure] = []
    for i, ((a_cmd, a_env, b_cmd, b_env), label) in enumerate(zip(rounds, labels, strict=True)):
        order = [(0, a_cmd, a_env), (1, b_cmd, b_env)]
        first_b = i % 2 == 1
        done = {who: measure(cmd, env) for who, cmd, env in (order[::-1] if first_b else order)}
        a_runs.append(done[0])
        b_runs.append(done[1])
        print(
            f"  {label}: {names[0]} {done[0].wall:6.2f} s ({done[0].peak_mb:4.0f} MB, load "
            f"{done[0].load:4.1f}) | {names[1]} {done[1].wall:6.2f} s ({done[1].peak_mb:4.0f} "
            f"MB, load {done[1].load:4.1f}) | ratio {done[0].wall / done[1].wall:.2f}",
            flush=True,
        )
    return a_runs, b_runs


def summary(names: tuple[str, str], a_runs: list[Measure], b_runs: list[Measure]) -> None:
    best_a, best_b = min(m.wall for m in a_runs), min(m.wall for m in b_runs)
    ratios = [a.wall / b.wall for a, b in zip(a_runs, b_runs, strict=True)]
    loads = [m.load for m in a_runs + b_runs]
    print(
        f"  best of {len(a_runs)}: {names[0]} {best_a:.2f} s, {names[1]} {best_b:.2f} s, "
        f"ratio {best_a / best_b:.2f} (median of the nights' ratios "
        f"{statistics.median(ratios):.2f}); peak RSS {names[0]} "
        f"{max(m.peak_mb for m in a_runs):.0f} MB, {names[1]} "
        f"{max(m.peak_mb for m in b_runs):.0f} MB; load average {min(loads):.1f}-{max(loads):.1f}",
        flush=True,
    )


def nights_against_pandas(env: dict[str, str], size: int, days: list[date], warm_up: bool) -> None:
    """With `warm_up`, the first day runs once for each, uncounted: the first `adtech run` on a
    new database creates the marts and roles, which no later night does."""
    print(f"\n{size:,} ad events and product views a day: adtech run vs pandas", flush=True)
    generate(env, days[0], len(days), size)
    if warm_up:
        measure([*ADTECH, "run", "--date", days[0].isoformat()], env)
        measure([*PANDAS, "--date", days[0].isoformat()], env)
        days = days[1:]
    rounds = [
        (
            [*ADTECH, "run", "--date", d.isoformat()],
            env,
            [*PANDAS, "--date", d.isoformat(), "--json"],
            env,
        )
        for d in days
    ]
    names = ("adtech run", "pandas")
    runs, baselines = duel(names, rounds, [str(d) for d in days])
    summary(names, runs, baselines)
    best = min(range(len(days)), key=lambda i: runs[i].wall)
    steps, span = run_steps(days[best])
    print(
        f"  adtech run's best night: {span:.2f} s from opening the run to publishing it, "
        f"{runs[best].wall - span:.2f} s before it (interpreter, imports); steps "
        + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items())
        + " (a dbt step's figure is the sum of its nodes' times, on 4 overlapping threads)",
        flush=True,
    )
    best = min(range(len(days)), key=lambda i: baselines[i].wall)
    result = json.loads(baselines[best].output.strip().splitlines()[-1])
    print(
        "  pandas's best night by step: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in result["steps"].items())
        + f"; the rest of its {baselines[best].wall:.2f} s (interpreter, imports):"
        f" {baselines[best].wall - sum(result['steps'].values()):.2f} s",
        flush=True,
    )


def run_steps(day: date) -> tuple[dict[str, float], float]:
    """The steps' seconds of the day's latest successful `adtech run` and the run's span
    (ops.pipeline_runs)."""
    import psycopg2

    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(
            "select steps, extract(epoch from finished_at - started_at) from ops.pipeline_runs "
            "where date = %s and status = 'success' order by started_at desc limit 1",
            (day,),
        )
        steps, span = cur.fetchone()
    return {entry["step"]: entry["seconds"] for entry in steps}, float(span)


def dag_against_run(
    env: dict[str, str], flow_env: dict[str, str], size: int, nights: int, start: date
) -> None:
    print(f"\n{size:,} a day: airflow dags test vs adtech run (new dates)", flush=True)
    days = days_from(start, 2 * nights)
    generate(env, start, len(days), size)
    rounds = [
        (
            [
                "airflow",
                "dags",
                "test",
                DAG_ID,
                dag_day.isoformat(),
                "--conf",
                f'{{"run_date": "{dag_day}"}}',
            ],
            flow_env,
            [*ADTECH, "run", "--date", run_day.isoformat()],
            env,
        )
        for dag_day, run_day in zip(days[::2], days[1::2], strict=True)
    ]
    labels = [f"{a} / {b}" for a, b in zip(days[::2], days[1::2], strict=True)]
    names = ("dags test", "adtech run")
    summary(names, *duel(names, rounds, labels))


def parse_price(env: dict[str, str], root: Path, rounds: int, start: date) -> None:
    print("\ndbt parse: a new --vars run_date vs a new ADTECH_RUN_DATE", flush=True)
    dbt = str(BIN / "dbt")
    envs = []
    for name in ("vars", "env"):
        envs.append(
            {
                **env,
                "DBT_TARGET_PATH": str(root / f"parse-{name}"),
                "DBT_LOG_PATH": str(root / f"parse-{name}-logs"),
            }
        )
    days = days_from(start, rounds + 1)
    # Warm-up: each target folder gets its partial-parse state once.
    measure([dbt, "parse", "--vars", f"{{run_date: {days[0]}}}"], envs[0])
    measure([dbt, "parse"], {**envs[1], "ADTECH_RUN_DATE": days[0].isoformat()})
    rounds = [
        (
            [dbt, "parse", "--vars", f"{{run_date: {d}}}"],
            envs[0],
            [dbt, "parse"],
            {**envs[1], "ADTECH_RUN_DATE": d.isoformat()},
        )
        for d in days[1:]
    ]
    names = ("--vars", "ADTECH_RUN_DATE")
    summary(names, *duel(names, rounds, [str(d) for d in days[1:]]))


def loads_sequential_vs_parallel(env: dict[str, str], size: int, rounds: int, start: date) -> None:
    print(f"\n{size:,} a day: the three loads one after another vs at once", flush=True)
    days = days_from(start, 2 * rounds)
    generate(env, start, len(days), size)
    rounds = [
        (
            [*ADTECH, "load", "--date", a.isoformat()],
            env,
            [sys.executable, "-c", LOAD_ALL, b.isoformat()],
            env,
        )
        for a, b in zip(days[::2], days[1::2], strict=True)
    ]
    labels = [f"{a} / {b}" for a, b in zip(days[::2], days[1::2], strict=True)]
    names = ("sequential", "parallel")
    summary(names, *duel(names, rounds, labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="200000,2000000",
        help="comma-separated ad events (and product views) per day",
    )
    parser.add_argument("--nights", type=int, default=3, help="nights per size")
    parser.add_argument("--dag-nights", type=int, default=2, help="0 skips the DAG")
    parser.add_argument("--dag-events", type=int, default=200_000)
    parser.add_argument("--parse-rounds", type=int, default=3, help="0 skips dbt parse")
    parser.add_argument("--loads", action="store_true", help="loads: sequential vs parallel")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    with private_stack("night-bench") as private:
        root, env = private.root, private.env
        # The nightly state: the project parsed once before the first night.
        measure([str(BIN / "dbt"), "parse", "--vars", f"{{run_date: {FIRST_DAY}}}"], env)

        start = FIRST_DAY
        for i, size in enumerate(sizes):
            count = args.nights + (i == 0)
            nights_against_pandas(env, size, days_from(start, count), warm_up=i == 0)
            start += timedelta(days=count)
        if args.dag_nights:
            flow_env = airflow_env(home=root / "airflow")
            flow_env["ADTECH_TASK_RETRIES"] = "0"
            migrate(flow_env)
            dag_against_run(env, flow_env, args.dag_events, args.dag_nights, start)
            start += timedelta(days=2 * args.dag_nights)
        if args.parse_rounds:
            parse_price(env, root, args.parse_rounds, start)
            start += timedelta(days=args.parse_rounds + 1)
        if args.loads:
            loads_sequential_vs_parallel(env, max(sizes), args.nights, start)


if __name__ == "__main__":
    main()
