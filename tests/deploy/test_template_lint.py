"""template.yaml passes cfn-lint and checkov; every checkov suppression is used and says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploy.aws.stack import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def test_cfn_lint_is_clean():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def declared_suppressions(resources) -> dict[tuple[str, str], str]:
    """(check id, resource) -> the comment, from each resource's Metadata.checkov.skip."""
    found = {}
    for name, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            found[(skip["id"], f"{resource['Type']}.{name}")] = skip.get("comment", "")
    return found


def test_checkov_passes_with_only_explained_suppressions(resources):
    # checkov pins its dependencies tightly: its own venv, made by the project's Makefile.
    made = subprocess.run(["make", "-s", "checkov"], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    result = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",  # no call to the vendor's platform (it cannot be reached here)
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        (c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]
    ]
    assert failed == [] and summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 60  # the checks really ran on the template's resources
    skipped = {(c["check_id"], c["resource"]) for c in report["results"]["skipped_checks"]}
    declared = declared_suppressions(resources)
    # Every suppression is needed (it silences a real finding) and is explained.
    assert skipped == set(declared)
    for key, comment in declared.items():
        assert len(comment.split()) >= 8, f"{key}: the suppression needs a reason"
