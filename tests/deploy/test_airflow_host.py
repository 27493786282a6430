"""The Airflow instance's units and service environment (deploy/aws/airflow_host.py), with its
secrets from moto's Secrets Manager. systemd itself is not run here (no systemd on these
machines): `install` and the units' behaviour under systemd are verified on paper only."""

from __future__ import annotations

import configparser
import secrets
import uuid

from deploy.aws.airflow_host import AIRFLOW_SERVICES, PYTHON, service_env, units


def parse(unit: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(unit)
    return parser


def test_units_run_the_three_airflow_services_after_roles_and_migration():
    found = {name: parse(text) for name, text in units().items()}
    assert set(found) == {
        "adtech-db-roles.service",
        "airflow-db-migrate.service",
        "airflow-scheduler.service",
        "airflow-api-server.service",
        "airflow-dag-processor.service",
    }
    roles = found["adtech-db-roles.service"]["Service"]
    assert roles["Type"] == "oneshot" and roles["ExecStart"] == f"{PYTHON} -m deploy.aws.dbroles"
    migrate = found["airflow-db-migrate.service"]
    assert migrate["Unit"]["Requires"] == "adtech-db-roles.service"
    assert migrate["Service"]["ExecStart"].endswith("run -- airflow db migrate")
    for name, (_, command) in AIRFLOW_SERVICES.items():
        unit = found[f"{name}.service"]
        assert unit["Unit"]["Requires"] == "airflow-db-migrate.service"
        assert unit["Service"]["ExecStart"] == (
            f"{PYTHON} -m deploy.aws.airflow_host run -- airflow {command}"
        )
        assert unit["Service"]["Restart"] == "always"
        assert unit["Service"]["User"] == "adtech"  # not root
        assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert {c for _, c in AIRFLOW_SERVICES.values()} == {"scheduler", "api-server", "dag-processor"}
    for text in units().values():  # settings by file, secrets fetched at start: none in a unit
        assert "EnvironmentFile=/etc/adtech-host.env" in text
        assert "PASSWORD" not in text.upper() and "SECRET=" not in text.upper()


def test_service_environment_localexecutor_parallelism_2_metadata_on_rds(aws, aws_environ):
    manager = aws("secretsmanager")
    suffix = uuid.uuid4().hex[:8]
    password, signing_key = secrets.token_urlsafe(30), secrets.token_urlsafe(48)
    owner = manager.create_secret(Name=f"t{suffix}/owner", SecretString=password)["ARN"]
    airflow = manager.create_secret(Name=f"t{suffix}/airflow", SecretString=signing_key)["ARN"]
    base = {
        "ADTECH_DB_HOST": "adtech-dev.example.rds.amazonaws.com",
        "ADTECH_DB_PORT": "5432",
        "ADTECH_OWNER_SECRET": owner,
        "ADTECH_AIRFLOW_SECRET": airflow,
        "ADTECH_S3_BUCKET": "adtech-dev-123-us-east-1",
        "PATH": "/usr/bin",
    }
    env = service_env(base, manager)
    host = "adtech-dev.example.rds.amazonaws.com:5432"
    assert env["DATABASE_URL"] == f"postgresql://adtech:{password}@{host}/adtech?sslmode=require"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://adtech:{password}@{host}/airflow?sslmode=require"
    )
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API__SECRET_KEY"] == signing_key
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["PGSSLMODE"] == "require"
    assert env["ADTECH_S3_BUCKET"] == base["ADTECH_S3_BUCKET"]
    assert env["PATH"].endswith("/usr/bin")  # the venv's bin first (airflow, dbt)
