"""`adtech deploy up | down`: deploy one environment to AWS, or tear it down (docs/DEPLOY.md).

AWS credentials and region come from the usual boto3 sources (AWS_PROFILE, AWS_REGION, ...);
AWS_ENDPOINT_URL points every client at another endpoint (the tests use moto's server).
boto3 is imported only when a command runs, so `adtech --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_PATTERN = r"^[a-z][a-z0-9-]{1,14}$"  # as template.yaml's EnvName

console = Console(highlight=False, soft_wrap=True)


def say(text: str) -> None:
    """Plain text (plans hold brackets that rich would read as markup)."""
    console.print(text, markup=False)


deploy_app = typer.Typer(
    help="Deploy to AWS: one CloudFormation stack per environment (docs/DEPLOY.md).",
    no_args_is_help=True,
)

EnvOption = Annotated[
    str, typer.Option("--env", help="environment name (dev, prod, ...)", envvar="ADTECH_ENV")
]
RegionOption = Annotated[
    str | None, typer.Option(help="AWS region (default: the boto3 configuration's)")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="print the plan; change nothing")]


errors = Console(stderr=True, highlight=False, soft_wrap=True)
CREDENTIALS_HINT = (
    "set AWS_PROFILE (a profile of ~/.aws/config) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


def _missing(what: str) -> typer.Exit:
    """One line naming what is missing, as every other command says it (no traceback)."""
    errors.print(f"[red]cannot deploy[/]: {escape(what)} (docs/DEPLOY.md)")
    return typer.Exit(1)


def _session(region: str | None):
    """The region and a client factory, or one line saying what is missing: checked before any
    request, so a newcomer without AWS settings reads what to set, not botocore's traceback."""
    import boto3

    session = boto3.session.Session(region_name=region)
    if session.region_name is None:
        raise _missing("no AWS region: pass --region or set AWS_REGION")
    if session.get_credentials() is None:
        raise _missing(f"no AWS credentials found: {CREDENTIALS_HINT}")
    cache: dict[str, object] = {}

    def clients(name: str):
        if name not in cache:
            cache[name] = session.client(name)
        return cache[name]

    return session.region_name, clients


def _account(clients) -> str:
    """The credentials' account: the first request, where AWS refuses credentials it does not
    know (or an endpoint that does not answer)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return clients("sts").get_caller_identity()["Account"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise _missing(
            f"AWS refused the credentials ({error.get('Code')}: {error.get('Message')}): "
            f"{CREDENTIALS_HINT}"
        ) from None
    except BotoCoreError as exc:
        raise _missing(f"AWS cannot be reached or asked: {exc}") from None


def _check_env(env: str) -> str:
    import re

    if not re.fullmatch(ENV_PATTERN, env):
        raise typer.BadParameter(f"--env must match {ENV_PATTERN}")
    return env


@deploy_app.command("up")
def up(
    env: EnvOption = "dev",
    version: Annotated[
        str | None, typer.Option(help="image tag and bundle version (default: git HEAD)")
    ] = None,
    api: Annotated[
        bool, typer.Option("--api/--no-api", help="run the API service (App Runner)")
    ] = True,
    public_api: Annotated[
        bool, typer.Option("--public-api", help="let the internet reach the API (keys still apply)")
    ] = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Build and push the image, create or update the stack; on the first deploy, create the
    database roles through the project's bootstrap."""
    from deploy.aws.apply import DeployError, apply, git_version
    from deploy.aws.plan import PlanError, make_plan
    from deploy.aws.stack import Inputs

    region_name, clients = _session(region)
    inputs = Inputs(
        env=_check_env(env),
        version=version or git_version(REPO_ROOT),
        api=api,
        public_api=public_api,
    )
    account = _account(clients)
    try:
        plan = make_plan(clients, inputs, region_name, account)
    except PlanError as exc:
        console.print(f"[red]cannot deploy[/]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    for line in plan.lines():
        say(line)
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    try:
        apply(plan, clients, REPO_ROOT, say)
    except DeployError as exc:
        console.print(f"[red]deploy failed[/]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(f"[green]{plan.stack} deployed[/] ({inputs.version})")


@deploy_app.command("down")
def down(
    env: EnvOption = "dev", region: RegionOption = None, dry_run: DryRunOption = False
) -> None:
    """Delete the stack. The data bucket is kept, and RDS takes a final snapshot."""
    from deploy.aws.stack import describe, stack_name

    region_name, clients = _session(region)
    name = stack_name(_check_env(env))
    state = describe(clients("cloudformation"), name)
    if not state.exists:
        say(f"stack {name} does not exist in {region_name}: nothing to do")
        return
    database = state.outputs.get("DatabaseInstance", f"adtech-{env}")
    bucket = state.outputs.get("BucketName", "?")
    say(f"stack {name} in {region_name} ({state.status}): tear down")
    say(f"1. rds: turn off deletion protection of {database}")
    say(f"2. delete-stack: {name} (RDS takes a final snapshot; ECR images are deleted)")
    say(f"note: the bucket {bucket} and its data are kept (DeletionPolicy Retain)")
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    clients("rds").modify_db_instance(
        DBInstanceIdentifier=database, DeletionProtection=False, ApplyImmediately=True
    )
    cf = clients("cloudformation")
    cf.delete_stack(StackName=name)
    cf.get_waiter("stack_delete_complete").wait(
        StackName=name, WaiterConfig={"Delay": 20, "MaxAttempts": 180}
    )
    console.print(f"[green]{name} deleted[/]")
