"""Fixtures of the deployment tests: the template as CloudFormation reads it, and moto's server
(the stack fixture's moto_server, which speaks CloudFormation, RDS, EC2, IAM, Secrets Manager and
ECR as well as S3) as the AWS endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode

from deploy.aws.stack import CAPABILITIES, TEMPLATE, Inputs, describe, stack_name

REGION = "us-east-1"
# moto accepts any credentials; these are placeholders, not secrets.
CREDENTIALS = {"aws_access_key_id": "moto", "aws_secret_access_key": "moto"}


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml as CloudFormation parses it (short-form tags become Ref/Fn:: dicts)."""
    parsed, errors = decode(str(TEMPLATE))
    assert not errors, errors
    return parsed


@pytest.fixture(scope="session")
def resources(template) -> dict[str, dict[str, Any]]:
    return template["Resources"]


@pytest.fixture(scope="session")
def aws_endpoint(stack) -> str:
    return stack.env["AWS_ENDPOINT_URL_S3"]


@pytest.fixture(scope="session")
def aws(aws_endpoint):
    """`aws(name)`: a boto3 client of moto's server."""

    def client(name: str):
        return boto3.client(name, endpoint_url=aws_endpoint, region_name=REGION, **CREDENTIALS)

    return client


@pytest.fixture
def aws_environ(aws_endpoint, monkeypatch) -> dict[str, str]:
    """The environment that points boto3 (and so `adtech deploy`) at moto's server."""
    values = {
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def new_env_name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Deployed:
    env: str
    stack: str
    outputs: dict[str, str]
    physical: dict[str, str]  # logical id -> physical id of what moto created


def deploy_to_moto(aws, env: str, version: str = "v1") -> Deployed:
    """template.yaml through moto's CloudFormation, as a first deploy makes it (no API service)."""
    cloudformation = aws("cloudformation")
    name = stack_name(env)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=Inputs(env=env, version=version, api=False).parameters(),
        Capabilities=CAPABILITIES,
    )
    state = describe(cloudformation, name)
    assert state.status == "CREATE_COMPLETE", state.status
    summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    physical = {s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in summaries}
    return Deployed(env, name, state.outputs, physical)


@pytest.fixture(scope="module")
def deployed(aws) -> Iterator[Deployed]:
    yield deploy_to_moto(aws, new_env_name())
