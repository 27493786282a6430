"""`adtech deploy up --dry-run` (and `down --dry-run`) against moto's server: the plan for a first
deploy and for an update, nothing changed, no secret printed."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from deploy.aws.stack import bundle_key, describe, stack_name
from tests.cli import adtech
from tests.deploy.conftest import deploy_to_moto, new_env_name

ROOT = Path(__file__).resolve().parents[2]


def deploy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return adtech({**os.environ, **env, "COLUMNS": "200"}, "deploy", *args, check=False)


def planted_secrets(aws, env_name: str) -> list[str]:
    """Secrets under the names the stack gives them (moto's CloudFormation makes none)."""
    manager = aws("secretsmanager")
    values = []
    for name in ("db/owner", "db/adtech_api", "api/keys", "airflow/secret-key"):
        value = secrets.token_urlsafe(32)
        manager.create_secret(Name=f"adtech/{env_name}/{name}", SecretString=value)
        values.append(value)
    return values


def test_first_deploy_plan(aws, aws_environ):
    env_name = new_env_name()
    values = planted_secrets(aws, env_name)
    result = deploy(aws_environ, "up", "--env", env_name, "--version", "v1", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    assert lines[0] == f"stack adtech-{env_name} in us-east-1 (account 123456789012): first deploy"
    steps = [line.split(":", 1)[0] for line in lines if line[:1].isdigit()]
    assert steps == ["1. create-stack", "2. upload-bundle", "3. push-image", "4. db-roles"]
    assert "ApiEnabled=false" in out and "ImageTag=v1" in out and "SourceVersion=v1" in out
    bucket = f"adtech-{env_name}-123456789012-us-east-1"
    assert f"s3://{bucket}/deploy/source/v1.tar.gz" in out
    assert f"123456789012.dkr.ecr.us-east-1.amazonaws.com/adtech-{env_name}-api:v1" in out
    assert "pipeline.steps.bootstrap" in out and "adtech_api" in out
    assert "note: the API service is created by the next `adtech deploy up`" in out
    assert lines[-1] == "dry run: nothing was changed"
    # Nothing was created.
    assert not describe(aws("cloudformation"), stack_name(env_name)).exists
    assert bucket not in {b["Name"] for b in aws("s3").list_buckets()["Buckets"]}
    for value in values:
        assert value not in out + result.stderr


def test_update_plan_after_the_first_deploy(aws, aws_environ):
    env_name = new_env_name()
    values = planted_secrets(aws, env_name)
    deployed = deploy_to_moto(aws, env_name)
    s3 = aws("s3")
    s3.put_object(Bucket=deployed.outputs["BucketName"], Key=bundle_key("v2"), Body=b"bundle")
    before = s3.list_objects_v2(Bucket=deployed.outputs["BucketName"]).get("KeyCount")

    result = deploy(
        aws_environ, "up", "--env", env_name, "--version", "v2", "--public-api", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].endswith(": update")
    steps = [line for line in out.splitlines() if line[:1].isdigit()]
    assert [s.split(":", 1)[0] for s in steps] == [
        "1. upload-bundle",
        "2. push-image",
        "3. update-stack",
        "4. refresh-host",
    ]
    assert steps[0].endswith("[skip: already uploaded]")
    assert "[skip" not in steps[1]  # no v2 image in the repository yet
    assert "ApiEnabled=true" in steps[2] and "ApiPublic=true" in steps[2]
    assert "ImageTag=v2" in steps[2]
    # The dry run changed nothing: same stack parameters, same objects.
    state = describe(aws("cloudformation"), deployed.stack)
    assert state.status == "CREATE_COMPLETE"
    assert state.parameters["ApiEnabled"] == "false" and state.parameters["ImageTag"] == "v1"
    assert s3.list_objects_v2(Bucket=deployed.outputs["BucketName"]).get("KeyCount") == before
    for value in values:
        assert value not in out + result.stderr

    # Without --api the service stays off.
    no_api = deploy(
        aws_environ, "up", "--env", env_name, "--version", "v2", "--no-api", "--dry-run"
    )
    assert no_api.returncode == 0 and "ApiEnabled=false" in no_api.stdout


def test_down_dry_run(aws, aws_environ, deployed):
    result = deploy(aws_environ, "down", "--env", deployed.env, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"turn off deletion protection of adtech-{deployed.env}" in result.stdout
    assert f"the bucket {deployed.outputs['BucketName']} and its data are kept" in result.stdout
    assert describe(aws("cloudformation"), deployed.stack).status == "CREATE_COMPLETE"
    missing = deploy(aws_environ, "down", "--env", new_env_name(), "--dry-run")
    assert missing.returncode == 0 and "nothing to do" in missing.stdout


def test_bad_environment_name_is_refused(aws_environ):
    result = deploy(aws_environ, "up", "--env", "Prod_1", "--version", "v1", "--dry-run")
    assert result.returncode != 0
    assert "--env must match" in result.stdout + result.stderr
