"""deploy/monitoring/alerts.yml: valid for Prometheus (`promtool check rules`) and doing what it
says (`promtool test rules alerts_test.yml alerts_test_days.yml`: each alert firing and not
firing on given series).

promtool comes from Debian's `prometheus` package (devstack/system-deps.sh installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yml"
RULES_TESTS = [MONITORING / "alerts_test.yml", MONITORING / "alerts_test_days.yml"]
ALERTS = {
    "AdtechNoPublication",
    "AdtechLowCoverage",
    "AdtechModelNoBetterThanRandom",
    "AdtechApi5xxRate",
    "AdtechApiP99Latency",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, (
        "promtool not found: install Debian's `prometheus` package"
        " (bash devstack/system-deps.sh as root, or apt-get install prometheus)"
    )
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_are_valid_and_their_unit_tests_pass(promtool) -> None:
    checked = run(promtool, "check", "rules", RULES.name, cwd=MONITORING)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout
    tested = run(promtool, "test", "rules", *(t.name for t in RULES_TESTS), cwd=MONITORING)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(RULES_TESTS)


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    rules = yaml.safe_load(RULES.read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert names == ALERTS
    cases = [
        case
        for path in RULES_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    assert {c["alertname"] for c in cases if c["exp_alerts"]} == ALERTS
    assert {c["alertname"] for c in cases if not c["exp_alerts"]} == ALERTS


@pytest.mark.parametrize(
    ("original", "changed"),
    [
        ("> 26 * 3600", "> 28 * 3600"),  # no publication: 28 h instead of 26
        ("[3d:1h]", "[2d:1h]"),  # "3 days running" shortened to 2
        ("<= 0\n", "< 0\n"),  # equal to random no longer counts
    ],
)
def test_the_unit_tests_catch_a_changed_rule(promtool, tmp_path, original, changed) -> None:
    """The rules' tests fail when a threshold or a window is changed: they pin the behaviour."""
    text = RULES.read_text()
    assert original in text
    (tmp_path / RULES.name).write_text(text.replace(original, changed))
    for path in RULES_TESTS:
        shutil.copy(path, tmp_path / path.name)
    tested = run(promtool, "test", "rules", *(t.name for t in RULES_TESTS), cwd=tmp_path)
    assert tested.returncode != 0, tested.stdout
    assert re.search(r"FAILED", tested.stdout + tested.stderr)


def test_a_broken_rules_file_is_refused_with_its_error(promtool, tmp_path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(RULES.read_text().replace("min(adtech_seconds", "min((adtech_seconds", 1))
    checked = run(promtool, "check", "rules", broken.name, cwd=tmp_path)
    assert checked.returncode != 0
    assert "AdtechNoPublication" in checked.stdout + checked.stderr or "parse error" in (
        checked.stdout + checked.stderr
    )
