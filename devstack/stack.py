"""`adtech stack up | down | env`: start, reuse or stop the local PostgreSQL and S3 endpoint
(and, with `up --spark`, a Spark standalone cluster and its Thrift Server: devstack/spark_stack.py).

State (data, logs, PIDs, chosen ports, Airflow's home and the env file) lives under one folder,
`.stack/` by default (`ADTECH_STACK_DIR`). A part whose setting already points elsewhere
(`DATABASE_URL`, `AWS_ENDPOINT_URL_S3`) is not started: the stack uses it as it is.

A restarted stack (after `down`, a crash or a reboot) comes back on the ports it had, so every
client configured from an earlier `adtech stack env` reconnects by itself; only a port another
program really listens on is given up, and `up` says so.

`env` exports the connections and the project's Airflow settings (pipeline.airflow.env): with
them loaded, the plain `airflow` CLI works on the project.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import boto3
import botocore.config
import psycopg2

from devstack import ports, spark_stack
from devstack.postgres import LocalPostgres
from devstack.s3 import LOCAL_CREDENTIALS, LocalS3
from pipeline.airflow.env import migrate, project_settings, register_dag, search_paths

DEFAULT_BUCKET = "adtech-logs"
DEFAULT_PREFIX = "raw/"


def default_dir() -> Path:
    return Path(os.environ.get("ADTECH_STACK_DIR", ".stack")).resolve()


@dataclass
class Stack:
    """What `up` started or found, and the settings that reach it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)  # connections: database, S3
    tools: dict[str, str] = field(default_factory=dict)  # Airflow and dbt settings
    search_paths: dict[str, str] = field(default_factory=dict)  # put first in PATH, PYTHONPATH
    started: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    spark: spark_stack.SparkStack | None = None  # with `up(spark=True)`

    @property
    def env_file(self) -> Path:
        return self.root / "stack.env"

    def export_lines(self) -> str:
        settings = {**self.env, **self.tools}
        lines = [f"export {k}={_quote(v)}\n" for k, v in sorted(settings.items())]
        # Prepended once: evaluating the file twice does not grow PATH. Every expansion has a
        # default, so a script under `set -u` may evaluate it with PYTHONPATH unset.
        lines += [
            f'case ":${{{k}:-}}:" in *:{_quote(v)}:*) ;; '
            f'*) export {k}={_quote(v)}"${{{k}:+:${k}}}" ;; esac\n'
            for k, v in sorted(self.search_paths.items())
        ]
        return "".join(lines)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


class _State:
    """The ports chosen on the first `up`, kept so that a restarted stack keeps its URLs, and the
    ports given up since (a URL naming one of them is this stack's, from an older env)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "state.json"
        self.data: dict = json.loads(self.path.read_text()) if self.path.exists() else {}

    def port(self, name: str) -> int:
        port = self.data.get(name)
        if port is None:
            port = ports.free_port()
            self.data[name] = port
            self.save()  # before anything starts, so a failed `up` is still stoppable
        return port

    def move(self, name: str) -> int:
        """Give up `name`'s port for a new one."""
        self.data.setdefault("retired", {}).setdefault(name, []).append(self.data.pop(name))
        return self.port(name)

    def ports_ever(self, name: str) -> list[int]:
        return [self.port(name), *self.data.get("retired", {}).get(name, [])]

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2))


class _Part(Protocol):
    port: int

    def pid(self) -> int | None: ...
    def start(self) -> None: ...


def _postgres(root: Path) -> Callable[[int], LocalPostgres]:
    return lambda port: LocalPostgres(root / "postgres", port)


def _s3(root: Path) -> Callable[[int], LocalS3]:
    return lambda port: LocalS3(root / "s3", port)


def _start(stack: Stack, state: _State, name: str, make: Callable[[int], _Part]) -> _Part:
    """Reuse `name` if it runs, else start it on its port, moving only if another program
    really listens there (say so: clients configured with the old port are stranded)."""
    part = make(state.port(f"{name}_port"))
    if part.pid() is not None:
        return part
    if not ports.port_free(part.port):
        old = part.port
        part = make(state.move(f"{name}_port"))
        stack.notices.append(
            f"{name}: port {old} is held by {ports.holder(old)}, so {name} starts on port"
            f" {part.port} instead. Settings loaded from an earlier `adtech stack env` (shells,"
            f" Airflow, a running API) still name port {old} and are stale: load them again with"
            ' eval "$(adtech stack env)" and restart what uses them.'
        )
    part.start()
    stack.started.append(name)
    return part


def _is_ours(env_value: str | None, ours: list[str]) -> bool:
    return env_value is None or env_value == "" or env_value in ours


def up(
    root: Path | None = None,
    bucket: str | None = None,
    *,
    airflow_db: bool = True,
    spark: bool = False,
) -> Stack:
    """Start (or reuse) what is missing and write the env file. Idempotent. With `airflow_db`,
    Airflow's metadata database on the stack's PostgreSQL is created or migrated when needed.
    With `spark` (or when the stack's Spark already runs), a standalone Spark cluster and its
    Thrift Server too (devstack/spark_stack.py), their settings in the env file."""
    root = root or default_dir()
    root.mkdir(parents=True, exist_ok=True)
    state = _State(root)
    stack = Stack(root=root)
    env = stack.env

    db_url = os.environ.get("DATABASE_URL")
    own_db = _is_ours(db_url, [_postgres(root)(p).url() for p in state.ports_ever("postgres_port")])
    if own_db:
        pg = _start(stack, state, "postgres", _postgres(root))
        env["DATABASE_URL"] = pg.url()
        env["ADTECH_API_DATABASE_URL"] = pg.url(user="adtech_api")
    else:
        env["DATABASE_URL"] = db_url

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if _is_ours(endpoint, [_s3(root)(p).endpoint for p in state.ports_ever("s3_port")]):
        s3 = _start(stack, state, "s3", _s3(root))
        env["AWS_ENDPOINT_URL_S3"] = s3.endpoint
        env.update({k: os.environ.get(k) or v for k, v in LOCAL_CREDENTIALS.items()})
    elif endpoint:
        env["AWS_ENDPOINT_URL_S3"] = endpoint

    env["ADTECH_S3_BUCKET"] = bucket or os.environ.get("ADTECH_S3_BUCKET") or DEFAULT_BUCKET
    env["ADTECH_S3_PREFIX"] = os.environ.get("ADTECH_S3_PREFIX") or DEFAULT_PREFIX
    state.save()
    _ensure_bucket(env)
    if spark or spark_stack.running(root):
        sp = spark_stack.up(root)
        env.update(sp.env)
        stack.started += sp.started
        stack.spark = sp
    stack.tools = project_settings(env["DATABASE_URL"], root / "airflow")
    stack.search_paths = search_paths()
    if airflow_db:
        _ensure_airflow_db(stack, own_db)
    stack.env_file.write_text(stack.export_lines())
    return stack


def _ensure_airflow_db(stack: Stack, own_db: bool) -> None:
    """Airflow's metadata schema migrated and the DAG registered, each only when needed, so the
    plain `airflow` CLI works right after `eval "$(adtech stack env)"`. Left alone on a database
    the stack does not own."""
    if importlib.util.find_spec("airflow") is None:
        return
    if not own_db:
        stack.notices.append(
            "DATABASE_URL points outside the stack: Airflow's metadata database"
            f" ({stack.tools['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}) is not migrated by"
            " `stack up`; run `airflow db migrate` after loading the settings if it needs it."
        )
        return
    env = {**os.environ, **stack.env, **stack.tools}
    for key, first in stack.search_paths.items():
        env[key] = os.pathsep.join(filter(None, [first, os.environ.get(key)]))
    if migrate(env):
        stack.notices.append("Airflow's metadata database was created or migrated")
    try:
        if register_dag(env):
            stack.notices.append("the DAG was parsed into Airflow's metadata database")
    except RuntimeError as exc:  # the stack is up; the DAG's own error is for its author
        stack.notices.append(str(exc))


def down(root: Path | None = None) -> list[str]:
    """Stop what `up` started, by PID. Returns the names of the parts that were running."""
    root = root or default_dir()
    if not (root / "state.json").exists():
        return []
    stopped = spark_stack.down(root)
    state = _State(root)
    pg = _postgres(root)(state.port("postgres_port"))
    s3 = _s3(root)(state.port("s3_port"))
    if pg.pid() is not None:
        pg.stop()
        stopped.append("postgres")
    if s3.pid() is not None:
        s3.stop()
        stopped.append("s3")
    return stopped


def destroy(root: Path) -> None:
    """Stop the stack and delete all its state, including a cluster kept outside `root`."""
    down(root)
    LocalPostgres(root / "postgres", 0).destroy()
    shutil.rmtree(root, ignore_errors=True)


def env_lines(root: Path | None = None) -> str:
    """The `export` lines written by the last `up`."""
    root = root or default_dir()
    env_file = root / "stack.env"
    if not env_file.exists():
        raise FileNotFoundError(f"no stack under {root}: run `adtech stack up` first")
    return env_file.read_text()


def _ensure_bucket(env: dict[str, str]) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=env.get("AWS_ENDPOINT_URL_S3"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    bucket = env["ADTECH_S3_BUCKET"]
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def check_postgres(url: str) -> str:
    """`select version()` through `url`: proof that the database answers."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select version()")
        return cur.fetchone()[0]
