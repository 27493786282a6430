"""`adtech deploy` as a newcomer first tries it: no AWS credentials, no ~/.aws, maybe no region.
One line naming what is missing, exit 1, no traceback, nothing asked of AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import adtech


def newcomer_env(home: Path) -> dict[str, str]:
    """`env -i` with a PATH and an empty HOME: no AWS variable, no ~/.aws to read."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (("up", "--env", "dev", "--dry-run", "--region", "eu-west-1"), "no AWS credentials"),
        (("up", "--env", "dev", "--dry-run"), "no AWS region"),
        (("down", "--env", "dev", "--dry-run", "--region", "eu-west-1"), "no AWS credentials"),
    ],
    ids=["up without credentials", "up without region", "down without credentials"],
)
def test_missing_aws_settings_are_named_in_one_line(
    tmp_path: Path, args: tuple[str, ...], missing: str
) -> None:
    result = adtech(newcomer_env(tmp_path), "deploy", *args, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cannot deploy: {missing}")
    if missing == "no AWS credentials":
        assert "AWS_PROFILE" in lines[0] and "AWS_ACCESS_KEY_ID" in lines[0]
    else:
        assert "--region" in lines[0] and "AWS_REGION" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written to the home folder
