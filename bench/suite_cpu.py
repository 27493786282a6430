"""Where a command's CPU goes, by kind of process: the test suite's figures in docs/BENCHMARKS.md.

    python3 bench/suite_cpu.py [--interval 0.5] [--json FILE] -- bash .ci/run

(The standard library only: it runs before `make install` has made the venv.)

Runs the command and samples /proc every INTERVAL seconds meanwhile: each process's own CPU
(user + system) as last seen, its command line as first seen (again after it execs another
program, as a shell's child or spark-class does; a program renaming itself, as pytest-xdist's
workers and Airflow's servers do, keeps its name), and the test it was started for
(pytest exports PYTEST_CURRENT_TEST, which every subprocess of a test inherits). Then prints the
CPU seconds of every process started after the command, by kind (the Spark Thrift Server, the
`adtech` commands, `airflow dags test`, PostgreSQL...) and by test file, beside the machine's
busy CPU seconds over the same time (/proc/stat): the difference is what the samples missed
(processes shorter than an interval, the kernel) and whatever else ran on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
TEST_VARIABLE = b"PYTEST_CURRENT_TEST="
# The first matching pattern names a process's kind.
KINDS = (
    (r"HiveThriftServer2", "Spark: the Thrift Server (driver)"),
    (r"CoarseGrainedExecutorBackend", "Spark: executors"),
    (r"deploy\.(master|worker)", "Spark: master and workers"),
    (r"/bin/java|spark-class", "Spark: other JVMs"),
    (r"^postgres|/bin/(postgres|initdb|pg_\w+)", "PostgreSQL"),
    (r"chrom", "Chromium"),
    (r"airflow dags test", "`airflow dags test`"),
    (
        r"airflow (standalone|api-server|scheduler|dag-processor|triggerer|serve-logs)"
        r"|airflow worker|airflow tasks run",
        "`airflow standalone` (its servers and task processes)",
    ),
    (r"bin/airflow", "other `airflow` commands"),
    (r"exec\(eval\(sys\.stdin", "pytest's workers (in-process dbt, API, fixtures)"),
    (r"-m pipeline|adtech\(\)", "`adtech` commands (dbt in-process)"),
    (r"run-operation", "`dbt run-operation` (the Spark loads)"),
    (r"bin/dbt|dbt\.cli", "other `dbt` commands"),
    (r"moto", "moto (S3)"),
    (r"\buv\b|compileall|pip install|-m venv", "install"),
)


@dataclass
class Process:
    command: str
    test: str
    cpu: float = 0.0
    program: str = ""


def kind(command: str) -> str:
    return next((name for pattern, name in KINDS if re.search(pattern, command)), "other")


def busy_seconds() -> float:
    """The machine's busy CPU seconds since boot (every core; idle and iowait left out)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def _read(pid: str) -> tuple[str, float] | None:
    """(start time, own CPU seconds) of a process, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19], (int(fields[11]) + int(fields[12])) / TICK


def _command(pid: str) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return command.replace(b"\0", b" ").decode(errors="replace").strip()


def _program(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _test(pid: str) -> str:
    """The pytest test the process was started for."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return ""
    return next(
        (e.removeprefix(TEST_VARIABLE).decode(errors="replace") for e in environ
         if e.startswith(TEST_VARIABLE)),
        "",
    )  # fmt: skip


def sample(procs: dict[tuple[str, str], Process], before: set[tuple[str, str]]) -> None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        seen = _read(pid)
        if seen is None or (pid, seen[0]) in before:
            continue
        key = (pid, seen[0])
        if key not in procs:
            procs[key] = Process(_command(pid), _test(pid), program=_program(pid))
        elif (program := _program(pid)) and program != procs[key].program:
            # It has exec'd another program since (a shell's child, spark-class -> java).
            procs[key].command = _command(pid) or procs[key].command
            procs[key].program = program
        procs[key].cpu = seen[1]


def report(procs: dict, busy: float, wall: float) -> None:
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    by_file: dict[str, float] = defaultdict(float)
    for p in procs.values():
        tally = by_kind[kind(p.command)]
        tally[0] += 1
        tally[1] += p.cpu
        by_file[p.test.split("::")[0] or "(no test)"] += p.cpu
    sampled = sum(p.cpu for p in procs.values())
    print(f"\nwall {wall:.0f} s; busy {busy:.0f} CPU-s; sampled {sampled:.0f} CPU-s\n")
    print("| kind | processes | CPU-s |\n|---|---|---|")
    for name, (count, cpu) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print(f"| {name} | {count:.0f} | {cpu:.0f} |")
    print("\nCPU-s of the processes started for each test file (a server is counted for the test")
    print("that started it):")
    for name, cpu in sorted(by_file.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{cpu:8.0f}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--json", type=Path, help="write every sampled process here")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("give a command after --")
    before = {(pid, s[0]) for pid in filter(str.isdigit, os.listdir("/proc")) if (s := _read(pid))}
    procs: dict[tuple[str, str], Process] = {}
    busy0, start = busy_seconds(), time.monotonic()
    child = subprocess.Popen(command)
    while child.poll() is None:
        sample(procs, before)
        time.sleep(args.interval)
    sample(procs, before)
    report(procs, busy_seconds() - busy0, time.monotonic() - start)
    if args.json:
        args.json.write_text(json.dumps([vars(p) for p in procs.values()]))
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
