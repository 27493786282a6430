"""The Airflow instance's services: systemd units, and the environment each service starts with.

`python -m deploy.aws.airflow_host install` (run as root by install_host.sh) writes the units and
starts them: the database roles first (dbroles.py, once per boot, idempotent), then Airflow's
metadata migration, then the scheduler, the API server and the DAG processor (LocalExecutor,
parallelism 2, metadata in the `airflow` database on RDS: pipeline.airflow.env's settings).

`python -m deploy.aws.airflow_host run -- CMD...` is each unit's ExecStart: it reads the owner's
password and Airflow's signing key from Secrets Manager, builds the environment and execs CMD.
Secrets live only in the service's process environment: never on disk, never in a unit file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from deploy.aws.dbroles import Roles, owner_url

PREFIX = Path("/opt/adtech")
APP = PREFIX / "app"
PYTHON = PREFIX / "venv" / "bin" / "python"
HOST_ENV_FILE = Path("/etc/adtech-host.env")
UNIT_DIR = Path("/etc/systemd/system")
USER = "adtech"
AIRFLOW_PORT = 8080

# name -> (description, airflow command); each runs as its own long-lived service.
AIRFLOW_SERVICES = {
    "airflow-scheduler": ("Airflow scheduler (LocalExecutor)", "scheduler"),
    "airflow-api-server": ("Airflow API server and UI (127.0.0.1 only)", "api-server"),
    "airflow-dag-processor": ("Airflow DAG processor", "dag-processor"),
}


def _unit(description: str, service: str, after: list[str], install: bool = True) -> str:
    deps = " ".join(after)
    lines = [
        "[Unit]",
        f"Description={description}",
        f"After=network-online.target {deps}".rstrip(),
        "Wants=network-online.target",
    ]
    if after:
        lines.append(f"Requires={deps}")
    lines += ["", "[Service]", f"EnvironmentFile={HOST_ENV_FILE}", f"WorkingDirectory={APP}"]
    lines += service.strip().splitlines()
    if install:
        lines += ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"


def units() -> dict[str, str]:
    """File name -> content of every unit this host runs."""
    run = f"{PYTHON} -m deploy.aws.airflow_host run --"
    found = {
        "adtech-db-roles.service": _unit(
            "adtech database roles and bootstrap (idempotent)",
            f"""
Type=oneshot
RemainAfterExit=yes
User={USER}
ExecStart={PYTHON} -m deploy.aws.dbroles
""",
            after=[],
        ),
        "airflow-db-migrate.service": _unit(
            "Airflow metadata database migration",
            f"""
Type=oneshot
RemainAfterExit=yes
User={USER}
ExecStart={run} airflow db migrate
""",
            after=["adtech-db-roles.service"],
        ),
    }
    for name, (description, command) in AIRFLOW_SERVICES.items():
        found[f"{name}.service"] = _unit(
            description,
            f"""
Type=simple
User={USER}
ExecStart={run} airflow {command}
Restart=always
RestartSec=10
""",
            after=["airflow-db-migrate.service"],
        )
    return found


def service_env(base: Mapping[str, str], secrets) -> dict[str, str]:
    """The environment of a service: `base` (the host settings), the database URLs with the
    owner's password, Airflow's shared signing key, then the project's Airflow settings."""
    from pipeline.airflow.env import METADATA_DB, airflow_env

    roles = Roles.from_env(base)
    host, port = base["ADTECH_DB_HOST"], int(base.get("ADTECH_DB_PORT", "5432"))
    sslmode = base.get("ADTECH_DB_SSLMODE", "require")
    password = secrets.get_secret_value(SecretId=base["ADTECH_OWNER_SECRET"])["SecretString"]
    signing_key = secrets.get_secret_value(SecretId=base["ADTECH_AIRFLOW_SECRET"])["SecretString"]
    url = owner_url(host, port, password, roles, sslmode)
    metadata = url.replace("postgresql://", "postgresql+psycopg2://", 1).replace(
        f"/{roles.database}?", f"/{METADATA_DB}?", 1
    )
    env = {
        **base,
        "DATABASE_URL": url,
        "PGSSLMODE": sslmode,  # dbt reads the URL without its query: libpq takes this instead
        "AIRFLOW_HOME": str(PREFIX / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        # One key for every component: the scheduler's task tokens must verify in the API server.
        "AIRFLOW__API_AUTH__JWT_SECRET": signing_key,
        "AIRFLOW__API__SECRET_KEY": signing_key,
        "AIRFLOW__API__HOST": "127.0.0.1",  # reached through Session Manager port forwarding
        "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{AIRFLOW_PORT}/execution/",
    }
    # The project's Airflow settings (LocalExecutor, parallelism 2, DAG folder...) fill the rest;
    # airflow_env() reads os.environ, so it sees exactly this environment for the call.
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return airflow_env(Path(env["AIRFLOW_HOME"]))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def install(unit_dir: Path = UNIT_DIR) -> None:
    """Write the units and (re)start them (root only)."""
    for name, content in units().items():
        (unit_dir / name).write_text(content)
    (PREFIX / "airflow").mkdir(parents=True, exist_ok=True)
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(PREFIX)], check=True)
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    names = list(units())
    subprocess.run(["systemctl", "enable", *names], check=True)
    subprocess.run(["systemctl", "restart", *names], check=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        install()
        return 0
    if argv[:2] == ["run", "--"] and len(argv) > 2:
        import boto3

        env = service_env(os.environ, boto3.client("secretsmanager"))
        os.execvpe(argv[2], argv[2:], env)
    print("usage: python -m deploy.aws.airflow_host install | run -- CMD...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
