"""One environment's stack: its name, its parameters, and what AWS says about it now."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

TEMPLATE = Path(__file__).with_name("template.yaml")
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# A stack in one of these states cannot be updated: it has to be deleted first.
DEAD_STATES = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"}


def stack_name(env: str) -> str:
    return f"adtech-{env}"


def bucket_name(env: str, account: str, region: str) -> str:
    """As template.yaml names it (known before the stack exists, for the plan)."""
    return f"adtech-{env}-{account}-{region}"


def repository_name(env: str) -> str:
    return f"adtech-{env}-api"


def bundle_key(version: str) -> str:
    return f"deploy/source/{version}.tar.gz"


@dataclass(frozen=True)
class Inputs:
    """What one deploy asks for."""

    env: str
    version: str  # image tag and source bundle version (the git commit)
    api: bool
    public_api: bool = False

    def parameters(self) -> list[dict[str, str]]:
        return [
            {"ParameterKey": "EnvName", "ParameterValue": self.env},
            {"ParameterKey": "ImageTag", "ParameterValue": self.version},
            {"ParameterKey": "SourceVersion", "ParameterValue": self.version},
            {"ParameterKey": "ApiEnabled", "ParameterValue": str(self.api).lower()},
            {"ParameterKey": "ApiPublic", "ParameterValue": str(self.public_api).lower()},
        ]


@dataclass(frozen=True)
class StackState:
    """The stack as CloudFormation describes it (None status: it does not exist)."""

    status: str | None
    outputs: dict[str, str]
    parameters: dict[str, str]

    @property
    def exists(self) -> bool:
        return self.status is not None


def describe(cloudformation, name: str) -> StackState:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return StackState(None, {}, {})
        raise
    stack = stacks[0]
    return StackState(
        stack["StackStatus"],
        {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
    )
