"""The deploy command's stack steps carried out for real (deploy.aws.apply) against moto's server.

Only the CloudFormation steps run here: the others need a clean git tree (bundle), Docker (image)
or a real instance (Session Manager). An update with the API service on cannot run in moto (no
App Runner), so the update here keeps it off.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deploy.aws.apply import apply
from deploy.aws.plan import make_plan
from deploy.aws.stack import Inputs, describe, stack_name
from tests.deploy.conftest import new_env_name

ROOT = Path(__file__).resolve().parents[2]


def only(plan, action: str):
    steps = tuple(s for s in plan.steps if s.action == action)
    assert len(steps) == 1, [s.action for s in plan.steps]
    return dataclasses.replace(plan, steps=steps)


def test_create_then_update_the_stack(aws):
    env = new_env_name()
    said: list[str] = []
    first = make_plan(aws, Inputs(env, "v1", api=True), "us-east-1", "123456789012")
    assert first.first_deploy and first.inputs.api is False  # the first deploy never has the API
    apply(only(first, "create-stack"), aws, ROOT, said.append)
    state = describe(aws("cloudformation"), stack_name(env))
    assert state.status == "CREATE_COMPLETE"
    assert state.parameters["ApiEnabled"] == "false" and state.parameters["ImageTag"] == "v1"
    assert state.outputs["RepositoryUri"].endswith(f"/adtech-{env}-api")

    update = make_plan(aws, Inputs(env, "v2", api=False), "us-east-1", "123456789012")
    assert not update.first_deploy
    apply(only(update, "update-stack"), aws, ROOT, said.append)
    state = describe(aws("cloudformation"), stack_name(env))
    assert state.status == "UPDATE_COMPLETE"
    assert state.parameters["ImageTag"] == "v2" and state.parameters["SourceVersion"] == "v2"
    assert said == [
        "create-stack: running",
        "create-stack: done",
        "update-stack: running",
        "update-stack: done",
    ]
