"""What a deploy will do, decided from what exists now; `--dry-run` prints it and stops.

Reading the plan only describes things (stack, image, bundle): it never reads a secret value, so
neither the plan nor anything printed from it can hold one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from botocore.exceptions import ClientError

from deploy.aws.stack import (
    DEAD_STATES,
    Inputs,
    StackState,
    bucket_name,
    bundle_key,
    describe,
    repository_name,
    stack_name,
)


class PlanError(Exception):
    """The deploy cannot go ahead as things are (the message says what to do)."""


@dataclass(frozen=True)
class Step:
    action: str  # create-stack, update-stack, upload-bundle, push-image, db-roles, refresh-host
    detail: str
    skipped: str | None = None  # why the step has nothing to do


@dataclass(frozen=True)
class Plan:
    inputs: Inputs
    stack: str
    region: str
    account: str
    bucket: str
    image: str
    first_deploy: bool
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        kind = "first deploy" if self.first_deploy else "update"
        out = [
            f"stack {self.stack} in {self.region} (account {self.account}): {kind}",
            f"version {self.inputs.version}; API service "
            + ("on" if self.inputs.api else "off")
            + (", public" if self.inputs.public_api else ", private (VPC ingress)"),
        ]
        for number, step in enumerate(self.steps, 1):
            state = f"  [skip: {step.skipped}]" if step.skipped else ""
            out.append(f"{number}. {step.action}: {step.detail}{state}")
        out += [f"note: {note}" for note in self.notes]
        return out


def _exists(call, missing: tuple[str, ...]) -> bool:
    try:
        call()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in missing:
            return False
        raise
    return True


def make_plan(clients, inputs: Inputs, region: str, account: str) -> Plan:
    """`clients(name)` returns a boto3 client; only describe/head calls are made."""
    name = stack_name(inputs.env)
    state: StackState = describe(clients("cloudformation"), name)
    if state.status in DEAD_STATES:
        raise PlanError(
            f"stack {name} is {state.status}: delete it first (docs/DEPLOY.md, 'Tear down')"
        )
    if state.status and state.status.endswith("_IN_PROGRESS"):
        raise PlanError(f"stack {name} is {state.status}: wait until it settles")
    bucket = bucket_name(inputs.env, account, region)
    repository = repository_name(inputs.env)
    image = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{inputs.version}"
    key = bundle_key(inputs.version)
    bundle = f"s3://{bucket}/{key}"
    notes: list[str] = []

    if not state.exists:
        if inputs.api:
            notes.append(
                "the API service is created by the next `adtech deploy up`, once the pipeline "
                "has published a day: App Runner's health check is /health/ready"
            )
        inputs = dataclasses.replace(inputs, api=False)
        steps = (
            Step("create-stack", _stack_detail("create", name, inputs)),
            Step("upload-bundle", f"git archive of {inputs.version} -> {bundle}"),
            Step("push-image", f"build the Dockerfile, push {image}"),
            Step(
                "db-roles",
                "on the Airflow instance (Session Manager): wait for its install, then "
                "adtech-db-roles.service = deploy.aws.dbroles: roles adtech (owner) and "
                "adtech_api with the passwords of their secrets, databases adtech and airflow, "
                "then pipeline.steps.bootstrap as adtech",
            ),
        )
        return Plan(inputs, name, region, account, bucket, image, True, steps, tuple(notes))

    s3, ecr = clients("s3"), clients("ecr")
    has_bundle = _exists(
        lambda: s3.head_object(Bucket=bucket, Key=key), ("404", "NoSuchKey", "NotFound")
    )
    has_image = _exists(
        lambda: ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageTag": inputs.version}]
        ),
        ("ImageNotFoundException", "RepositoryNotFoundException"),
    )
    steps = (
        Step(
            "upload-bundle",
            f"git archive of {inputs.version} -> {bundle}",
            "already uploaded" if has_bundle else None,
        ),
        Step(
            "push-image",
            f"build the Dockerfile, push {image}",
            "already in the repository" if has_image else None,
        ),
        Step("update-stack", _stack_detail("update", name, inputs)),
        Step(
            "refresh-host",
            "on the Airflow instance (Session Manager): unpack the bundle, install_host.sh "
            "(requirements/dev.txt, units restarted; the database roles step runs again)",
        ),
    )
    return Plan(inputs, name, region, account, bucket, image, False, steps, tuple(notes))


def _stack_detail(verb: str, name: str, inputs: Inputs) -> str:
    params = ", ".join(f"{p['ParameterKey']}={p['ParameterValue']}" for p in inputs.parameters())
    return f"{verb} {name} from deploy/aws/template.yaml ({params})"
