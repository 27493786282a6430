"""A newcomer's first commands, before the stack is up or with a database that is gone: one line
naming what is missing, exit 1, never a traceback."""

from __future__ import annotations

import os
import socket

import pytest

from tests.cli import adtech

COMMANDS = [
    ("run", "--date", "2024-11-20"),
    ("backfill", "--start", "2024-11-20", "--end", "2024-11-22"),
    ("cleanup",),
    ("stack", "status"),
    ("load", "--date", "2024-11-20"),
]


def bare_env(**extra: str) -> dict[str, str]:
    """What a fresh shell has: no DATABASE_URL, no ADTECH_* variables."""
    keep = ("HOME", "PATH", "LANG", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, **extra}


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_missing_settings_are_named_in_one_line(args: tuple[str, ...]) -> None:
    result = adtech(bare_env(), *args, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "DATABASE_URL" in output
    if args[0] != "load":
        assert "adtech stack env" in output


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args", [("cleanup",), ("stack", "status")], ids=" ".join)
def test_unreachable_database_is_one_line(args: tuple[str, ...]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/nowhere"
    result = adtech(bare_env(DATABASE_URL=url), *args, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "cannot connect to PostgreSQL" in output
