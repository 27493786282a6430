"""deploy.aws.dbroles on the real PostgreSQL, as a non-superuser master like RDS's; its secrets
and the database's description come from moto's Secrets Manager and RDS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from deploy.aws.dbroles import Roles, owner_url, provision, run_bootstrap

ROOT = Path(__file__).resolve().parents[2]


def scram_matches(verifier: str, password: str) -> bool:
    """Whether a PostgreSQL SCRAM-SHA-256 verifier was made from `password` (RFC 5802)."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return (
        method == "SCRAM-SHA-256"
        and hashlib.sha256(client_key).digest() == stored_key
        and hmac.digest(salted, b"Server Key", "sha256") == server_key
    )


def query(url: str, sql: str, *args):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def names() -> Roles:
    suffix = uuid.uuid4().hex[:8]
    return Roles(
        owner=f"t_owner_{suffix}",
        api=f"t_api_{suffix}",
        database=f"t_adtech_{suffix}",
        airflow_database=f"t_airflow_{suffix}",
    )


@pytest.fixture
def rds_master(admin_url: str, names: Roles):
    """A master role like RDS's: may create roles and databases, is not a superuser."""
    master = f"t_master_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create role "{master}" login createrole createdb')
    yield master
    with conn.cursor() as cur:
        for database in (names.database, names.airflow_database):
            cur.execute(f'drop database if exists "{database}" with (force)')
        for role in (names.owner, names.api, master):
            cur.execute(f"select 1 from pg_roles where rolname = '{role}'")
            if cur.fetchone():
                cur.execute(f'drop owned by "{role}" cascade')
                cur.execute(f'drop role "{role}"')
    conn.close()


def master_kwargs(admin_url: str, master: str) -> dict:
    parts = urlsplit(admin_url)
    return {"host": parts.hostname, "port": parts.port, "user": master, "dbname": "postgres"}


def verifier(admin_url: str, role: str) -> str:
    return query(admin_url, "select rolpassword from pg_authid where rolname = %s", role)[0][0]


def test_roles_databases_and_the_projects_bootstrap(admin_url, rds_master, names, monkeypatch):
    for key in ("DATABASE_URL", "ADTECH_API_ROLE", "ADTECH_S3_BUCKET"):
        monkeypatch.setenv(key, os.environ.get(key, "placeholder"))  # restored after the test
    master = master_kwargs(admin_url, rds_master)
    done = provision(master, "owner-pass-1", "api-pass-1", names)
    assert done[:2] == [
        f"role {names.owner}: created with the password of its secret",
        f"role {names.api}: created with the password of its secret",
    ]
    assert not any("pass-1" in line for line in done)
    flags = dict(
        (name, (superuser, createrole))
        for name, superuser, createrole in query(
            admin_url,
            "select rolname, rolsuper, rolcreaterole from pg_roles where rolname in (%s, %s)",
            names.owner,
            names.api,
        )
    )
    assert flags == {names.owner: (False, False), names.api: (False, False)}
    assert scram_matches(verifier(admin_url, names.owner), "owner-pass-1")
    assert scram_matches(verifier(admin_url, names.api), "api-pass-1")
    owners = dict(
        query(
            admin_url,
            "select datname, pg_get_userbyid(datdba) from pg_database where datname in (%s, %s)",
            names.database,
            names.airflow_database,
        )
    )
    assert owners == {names.database: names.owner, names.airflow_database: names.owner}
    (connect,) = query(
        admin_url,
        "select has_database_privilege(%s, %s, 'connect'), "
        "has_database_privilege(%s, %s, 'connect')",
        names.api,
        names.database,
        names.api,
        names.airflow_database,
    )
    assert connect == (True, False)  # the API reaches the project's database only

    url = owner_url(urlsplit(admin_url).hostname, urlsplit(admin_url).port, "x", names, "disable")
    run_bootstrap(url, names)
    superuser_on_project = admin_url.rsplit("/", 1)[0] + f"/{names.database}"
    schemas = dict(
        query(
            superuser_on_project,
            "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
            "where nspname in ('ops', 'marts')",
        )
    )
    assert schemas == {"ops": names.owner, "marts": names.owner}
    (grants,) = query(
        superuser_on_project,
        "select has_schema_privilege(%s, 'marts', 'usage'), "
        "has_table_privilege(%s, 'ops.published_days', 'select'), "
        "has_table_privilege(%s, 'ops.pipeline_runs', 'select')",
        names.api,
        names.api,
        names.api,
    )
    assert grants == (True, True, False)

    # A rotation: new passwords in the secrets, the same command again.
    again = provision(master, "owner-pass-2", "api-pass-2", names)
    assert again == [
        f"role {names.owner}: altered with the password of its secret",
        f"role {names.api}: altered with the password of its secret",
    ]
    assert scram_matches(verifier(admin_url, names.owner), "owner-pass-2")
    assert scram_matches(verifier(admin_url, names.api), "api-pass-2")


def test_the_host_command_reads_moto_secrets_and_prints_none(
    aws, aws_environ, admin_url, rds_master, names
):
    """`python -m deploy.aws.dbroles` as the instance runs it: the master user from RDS's
    description, the passwords from Secrets Manager (moto), the database a real PostgreSQL."""
    suffix = uuid.uuid4().hex[:8]
    instance = f"adtech-t{suffix}"
    aws("rds").create_db_instance(
        DBInstanceIdentifier=instance,
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername=rds_master,
        ManageMasterUserPassword=True,
    )
    manager = aws("secretsmanager")
    values = {"owner": secrets.token_urlsafe(30), "api": secrets.token_urlsafe(30)}
    arns = {
        name: manager.create_secret(Name=f"adtech/t{suffix}/db/{name}", SecretString=value)["ARN"]
        for name, value in values.items()
    }
    parts = urlsplit(admin_url)
    env = {
        **os.environ,
        **aws_environ,
        "ADTECH_DB_INSTANCE": instance,
        "ADTECH_DB_HOST": parts.hostname,
        "ADTECH_DB_PORT": str(parts.port),
        "ADTECH_DB_SSLMODE": "disable",  # the local server has no TLS; RDS: require
        "ADTECH_OWNER_SECRET": arns["owner"],
        "ADTECH_API_DB_SECRET": arns["api"],
        "ADTECH_DB_OWNER": names.owner,
        "ADTECH_API_ROLE": names.api,
        "ADTECH_DB_NAME": names.database,
        "ADTECH_AIRFLOW_DB_NAME": names.airflow_database,
        "ADTECH_S3_BUCKET": "unused",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "deploy.aws.dbroles"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"role {names.owner}: created" in result.stdout
    assert f"pipeline.steps.bootstrap ran as {names.owner} on {names.database}" in result.stdout
    for value in values.values():
        assert value not in result.stdout + result.stderr
    assert scram_matches(verifier(admin_url, names.owner), values["owner"])
    assert scram_matches(verifier(admin_url, names.api), values["api"])
