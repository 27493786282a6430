"""`adtech evaluate` as a newcomer runs it (a new process, only DATABASE_URL set) on the shared
published marts, and fed what a careless or hostile user would type."""

from __future__ import annotations

import os
import re
import sys
import xml.dom.minidom
from pathlib import Path

import pytest

from tests.api.sample_marts import Published
from tests.cli import adtech


def _env(**extra: str) -> dict[str, str]:
    """A clean environment: the venv on PATH, no setting of this machine's but `extra`."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        **extra,
    }


def test_a_newcomer_gets_the_table_and_the_chart(published: Published, tmp_path: Path) -> None:
    chart = tmp_path / "evaluation.svg"
    first, last = published.days[0], published.days[-1]
    result = adtech(
        _env(DATABASE_URL=published.url),
        "evaluate", "--from", first.isoformat(), "--to", last.isoformat(), "--chart", str(chart),
    )  # fmt: skip
    lines = result.stdout.splitlines()
    evaluated = [d.isoformat() for d in published.days[:-1]]
    for day in evaluated:
        for model in ("top_ctr", "top_product"):
            row = next(line for line in lines if day in line and f" {model} " in line)
            assert re.search(r"\d+\.\d%.*\d+\.\d%.*\d\.\d\dx", row), row
    assert f"not evaluated (1: no published next day, or no list): {last}" in result.stdout
    document = xml.dom.minidom.parse(str(chart))
    points = [
        (c.getAttribute("data-series"), c.getAttribute("data-date"))
        for c in document.getElementsByTagName("circle")
    ]
    series = ("top_ctr", "random_top_ctr", "top_product", "random_top_product")
    assert sorted(points) == sorted((s, d) for s in series for d in evaluated)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-11-20", "--to", "2024-11-18"], "--from 2024-11-20 is after --to"),
        (["--from", "2030-01-01", "--to", "2030-01-31"], "no evaluated list date between"),
        (["--from", "2024-11-18", "--to", "2024-11-20", "--chart", "x.png"], "PNG is not"),
        (["--from", "2024-11-18", "--to", "2024-11-20", "--chart", "/etc"], "must end in .svg"),
        (["--from", "2024-11-18", "--to", "2024-11-20", "--chart", "/no/such/d/x.svg"], "does"),
        (["--from", "2024-11-18'; drop table ops.published_days; --", "--to", "2024-11-20"], ""),
    ],
    ids=["reversed", "nothing-evaluated", "png", "directory", "no-folder", "injection"],
)
def test_bad_input_is_one_line_and_changes_nothing(
    published: Published, args: list[str], message: str
) -> None:
    result = adtech(_env(DATABASE_URL=published.url), "evaluate", *args, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and message in result.stderr
    if message:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    if not message:  # the injection: refused by the date parser, the marts are still there
        day = published.days[0].isoformat()
        again = adtech(_env(DATABASE_URL=published.url), "evaluate", "--from", day, "--to", day)
        assert day in again.stdout and "Invalid value" in result.stderr


def test_without_database_settings_it_says_which(published: Published) -> None:
    result = adtech(_env(), "evaluate", "--from", "2024-11-18", "--to", "2024-11-20", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "DATABASE_URL" in result.stderr and len(result.stderr.strip().splitlines()) == 1
