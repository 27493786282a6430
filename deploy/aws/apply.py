"""Carry out a plan's steps against AWS. Nothing here prints or logs a secret: the registry
password goes to `docker login` on its standard input, and the database roles are made on the
instance by deploy.aws.dbroles, which reads its secrets there."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError

from deploy.aws.plan import Plan, Step
from deploy.aws.stack import CAPABILITIES, TEMPLATE, bundle_key, describe

WAIT = {"Delay": 20, "MaxAttempts": 180}  # an RDS instance takes 10-20 minutes to create


class DeployError(Exception):
    """A step failed; the message says which and why (never with a secret)."""


def git_version(root: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def _stack(plan: Plan, clients, root: Path, create: bool) -> None:
    cf = clients("cloudformation")
    common = {
        "StackName": plan.stack,
        "TemplateBody": TEMPLATE.read_text(),
        "Parameters": plan.inputs.parameters(),
        "Capabilities": CAPABILITIES,
        "Tags": [{"Key": "adtech:env", "Value": plan.inputs.env}],
    }
    if create:
        cf.create_stack(**common)
        cf.get_waiter("stack_create_complete").wait(StackName=plan.stack, WaiterConfig=WAIT)
        return
    try:
        cf.update_stack(**common)
    except ClientError as exc:
        if "No updates are to be performed" in str(exc):
            return
        raise
    cf.get_waiter("stack_update_complete").wait(StackName=plan.stack, WaiterConfig=WAIT)


def _upload_bundle(plan: Plan, clients, root: Path) -> None:
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if dirty.strip():
        raise DeployError("the working tree has uncommitted changes: commit them first")
    bundle = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar.gz", plan.inputs.version],
        check=True,
        capture_output=True,
    ).stdout
    clients("s3").put_object(Bucket=plan.bucket, Key=bundle_key(plan.inputs.version), Body=bundle)


def _push_image(plan: Plan, clients, root: Path) -> None:
    tool = shutil.which("docker") or shutil.which("podman")
    if tool is None:
        raise DeployError("neither docker nor podman is installed: the image cannot be built")
    auth = clients("ecr").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    registry = plan.image.split("/", 1)[0]
    subprocess.run(
        [tool, "login", "--username", user, "--password-stdin", registry],
        input=password.encode(),
        check=True,
        capture_output=True,  # its output may echo the registry reply; never printed
    )
    subprocess.run([tool, "build", "--tag", plan.image, str(root)], check=True)
    subprocess.run([tool, "push", plan.image], check=True)


def _run_on_host(plan: Plan, clients, commands: list[str], timeout: float = 3600) -> None:
    instance = describe(clients("cloudformation"), plan.stack).outputs["AirflowInstanceId"]
    ssm = clients("ssm")
    command = ssm.send_command(
        InstanceIds=[instance],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": commands, "executionTimeout": [str(int(timeout))]},
    )["Command"]["CommandId"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(10)
        try:
            result = ssm.get_command_invocation(CommandId=command, InstanceId=instance)
        except ClientError as exc:  # not registered yet
            if exc.response["Error"]["Code"] == "InvocationDoesNotExist":
                continue
            raise
        if result["Status"] == "Success":
            return
        if result["Status"] in {"Failed", "Cancelled", "TimedOut"}:
            raise DeployError(
                f"on {instance}: {result['Status']}\n{result.get('StandardErrorContent', '')}"
            )
    raise DeployError(f"on {instance}: no answer after {timeout:.0f} s")


def _db_roles(plan: Plan, clients, root: Path) -> None:
    _run_on_host(
        plan,
        clients,
        [
            "cloud-init status --wait >/dev/null",  # the user data installs the project first
            "systemctl start adtech-db-roles.service",
            "systemctl is-active adtech-db-roles.service",
        ],
    )


def _refresh_host(plan: Plan, clients, root: Path) -> None:
    source = f"s3://{plan.bucket}/{bundle_key(plan.inputs.version)}"
    _run_on_host(
        plan,
        clients,
        [
            f"aws s3 cp --quiet {source} /opt/adtech/source.tar.gz",
            "rm -rf /opt/adtech/app && mkdir /opt/adtech/app",
            "tar -xzf /opt/adtech/source.tar.gz -C /opt/adtech/app",
            "bash /opt/adtech/app/deploy/aws/install_host.sh",
        ],
    )


ACTIONS: dict[str, Callable[[Plan, object, Path], None]] = {
    "create-stack": lambda plan, clients, root: _stack(plan, clients, root, create=True),
    "update-stack": lambda plan, clients, root: _stack(plan, clients, root, create=False),
    "upload-bundle": _upload_bundle,
    "push-image": _push_image,
    "db-roles": _db_roles,
    "refresh-host": _refresh_host,
}


def apply(plan: Plan, clients, root: Path, echo: Callable[[str], None]) -> None:
    for step in plan.steps:
        if step.skipped:
            echo(f"{step.action}: skipped ({step.skipped})")
            continue
        echo(f"{step.action}: running")
        _run(step, plan, clients, root)
        echo(f"{step.action}: done")


def _run(step: Step, plan: Plan, clients, root: Path) -> None:
    try:
        ACTIONS[step.action](plan, clients, root)
    except subprocess.CalledProcessError as exc:
        raise DeployError(f"{step.action}: {exc.cmd[0]} exited with {exc.returncode}") from None
