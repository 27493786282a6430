"""`adtech stack up | down | env`: start, reuse or stop the local PostgreSQL and S3 endpoint.

State (data, logs, PIDs, chosen ports and the env file) lives under one folder, `.stack/` by default
(`ADTECH_STACK_DIR`). A part whose setting already points elsewhere (`DATABASE_URL`,
`AWS_ENDPOINT_URL_S3`) is not started: the stack uses it as it is.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config
import psycopg2

from devstack.postgres import LocalPostgres
from devstack.s3 import LOCAL_CREDENTIALS, LocalS3

DEFAULT_BUCKET = "adtech-logs"
DEFAULT_PREFIX = "raw/"


def default_dir() -> Path:
    return Path(os.environ.get("ADTECH_STACK_DIR", ".stack")).resolve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Stack:
    """What `up` started or found, and the settings that reach it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    @property
    def env_file(self) -> Path:
        return self.root / "stack.env"

    def export_lines(self) -> str:
        return "".join(f"export {k}={_quote(v)}\n" for k, v in sorted(self.env.items()))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


class _State:
    """The ports chosen on the first `up`, kept so that a restarted stack keeps its URLs."""

    def __init__(self, root: Path) -> None:
        self.path = root / "state.json"
        self.data: dict = json.loads(self.path.read_text()) if self.path.exists() else {}

    def port(self, name: str) -> int:
        port = self.data.get(name)
        if port is None:
            port = _free_port()
            self.data[name] = port
            self.save()  # before anything starts, so a failed `up` is still stoppable
        return port

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2))


def _parts(root: Path, state: _State) -> tuple[LocalPostgres, LocalS3]:
    return LocalPostgres(root / "postgres", state.port("postgres_port")), LocalS3(
        root / "s3", state.port("s3_port")
    )


def _is_ours(env_value: str | None, ours: str) -> bool:
    return env_value is None or env_value == "" or env_value == ours


def up(root: Path | None = None, bucket: str | None = None) -> Stack:
    """Start (or reuse) what is missing and write the env file. Idempotent."""
    root = root or default_dir()
    root.mkdir(parents=True, exist_ok=True)
    state = _State(root)
    pg, s3 = _parts(root, state)
    stack = Stack(root=root)
    env = stack.env

    db_url = os.environ.get("DATABASE_URL")
    if _is_ours(db_url, pg.url()):
        if pg.pid() is None:
            if not _port_free(pg.port):
                state.data.pop("postgres_port")
                pg = LocalPostgres(root / "postgres", state.port("postgres_port"))
            pg.start()
            stack.started.append("postgres")
        env["DATABASE_URL"] = pg.url()
        env["ADTECH_API_DATABASE_URL"] = pg.url(user="adtech_api")
    else:
        env["DATABASE_URL"] = db_url

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if _is_ours(endpoint, s3.endpoint):
        if s3.pid() is None:
            if not _port_free(s3.port):
                state.data.pop("s3_port")
                s3 = LocalS3(root / "s3", state.port("s3_port"))
            s3.start()
            stack.started.append("s3")
        env["AWS_ENDPOINT_URL_S3"] = s3.endpoint
        env.update({k: os.environ.get(k) or v for k, v in LOCAL_CREDENTIALS.items()})
    elif endpoint:
        env["AWS_ENDPOINT_URL_S3"] = endpoint

    env["ADTECH_S3_BUCKET"] = bucket or os.environ.get("ADTECH_S3_BUCKET") or DEFAULT_BUCKET
    env["ADTECH_S3_PREFIX"] = os.environ.get("ADTECH_S3_PREFIX") or DEFAULT_PREFIX
    state.save()
    _ensure_bucket(env)
    stack.env_file.write_text(stack.export_lines())
    return stack


def down(root: Path | None = None) -> list[str]:
    """Stop what `up` started, by PID. Returns the names of the parts that were running."""
    root = root or default_dir()
    if not (root / "state.json").exists():
        return []
    pg, s3 = _parts(root, _State(root))
    stopped = []
    if pg.pid() is not None:
        pg.stop()
        stopped.append("postgres")
    if s3.pid() is not None:
        s3.stop()
        stopped.append("s3")
    return stopped


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
