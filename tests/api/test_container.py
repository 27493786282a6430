"""The API image's Dockerfile lints clean and the compose file is complete and secret-free.

(No Docker engine on the build machines: `docker build` / `docker compose up` are not run here.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_is_hadolint_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_the_api_only_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "requirements/api.txt" in text and "requirements/dev.txt" not in text
    copied = re.findall(r"^COPY (\S+)", text, re.M)
    assert copied == ["requirements/api.txt", "api/"]
    assert re.search(r"^WORKDIR /app$", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert "HEALTHCHECK" in text and "/health/live" in text
    assert '"uvicorn", "api.main:app"' in text


def test_compose_has_the_whole_stack_and_takes_secrets_from_env():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"postgres", "s3", "airflow", "api"} <= set(compose["services"])
    assert compose["services"]["api"]["build"] == "."
    text = (ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert needed <= set(example), f"not in .env.example: {needed - set(example)}"
    assert all("PASSWORD" not in k or v.startswith("change-me") for k, v in example.items())
    # No literal credentials: secrets and URLs with a user are built from ${...} references.
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            url_with_user = "://" in str(value) and "@" in str(value)
            if url_with_user or re.search(r"PASSWORD|SECRET|KEY", key):
                assert "${" in str(value), f"{name}.{key} holds a literal value"


def test_api_package_imports_no_other_part():
    """The API never imports loaders/pipeline/devstack, nor Airflow or dbt (not in its image)."""
    code = (
        "import sys, api.main, api.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'loaders', 'pipeline', 'devstack', 'airflow', 'dbt', 'cosmos', 'boto3'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
