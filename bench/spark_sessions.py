"""What a Thrift session costs the Spark Thrift Server's driver, beside what a statement costs.

dbt-spark opens a session for every node (and sends `use <database>` in each), so a night's
statements come in a few hundred sessions. This bench sends the same N `select 1` three ways to
the running local stack's Thrift Server (`adtech stack up --spark`) and prints the driver's CPU
for each (from /proc), in rotating order, `--rounds` times:

    many      a session per statement (dbt's way)
    one       all in one session
    one+use   all in one session, each after a `use default`

    .venv/bin/python -m bench.spark_sessions [--statements 40] [--rounds 2]

The stack is the one ADTECH_STACK_DIR (default .stack) names; nothing is started or stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench.spark_bench import proc_cpu
from devstack.spark import HOST
from devstack.spark_stack import running
from devstack.stack import default_dir


def ways(port: int, n: int) -> dict[str, Callable[[], None]]:
    from pyhive import hive

    def connect():
        return hive.connect(host=HOST, port=port, username="bench", database="default")

    def statements(cursor, count: int, use: bool) -> None:
        for _ in range(count):
            if use:
                cursor.execute("use default")
            cursor.execute("select 1")
            cursor.fetchall()

    def sessions(count: int, per_session: int, use: bool) -> Callable[[], None]:
        def run() -> None:
            for _ in range(count):
                conn = connect()
                try:
                    statements(conn.cursor(), per_session, use)
                finally:
                    conn.close()

        return run

    return {
        "many": sessions(n, 1, use=False),
        "one": sessions(1, n, use=False),
        "one+use": sessions(1, n, use=True),
    }


def session_ms(figures: dict[str, tuple[float, float]], statements: int) -> float:
    return (figures["many"][0] - figures["one"][0]) / statements * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    state = running(default_dir())
    if state is None:
        print(
            f"no running Spark stack in {default_dir()}: start one with `adtech stack up --spark`",
            file=sys.stderr,
        )
        return 2
    pid, contenders = state["pids"]["thrift"], ways(state["thrift_port"], args.statements)
    names = list(contenders)
    print(f"{args.statements} `select 1` each; the driver's CPU seconds (wall seconds)")
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        figures = {}
        for name in order:
            cpu, wall = proc_cpu(pid), time.perf_counter()
            contenders[name]()
            figures[name] = (proc_cpu(pid) - cpu, time.perf_counter() - wall)
        print(
            f"round {round_ + 1}: "
            + ", ".join(f"{name} {cpu:.2f} ({wall:.2f})" for name, (cpu, wall) in figures.items())
            + f"; a session costs {session_ms(figures, args.statements):.0f} ms of the driver's"
            " CPU beyond its statement"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
