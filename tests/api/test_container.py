"""The API image is built and run by a real container engine (podman here and in CI, docker
where its engine runs): it serves the published marts as the read-only role, answers exactly as
the in-process app does, runs as a non-root user and gets ready. The Dockerfile lints clean, and
the compose file is complete, secret-free and valid against the Compose specification's schema.

podman comes from `devstack/system-deps.sh` (run by `make test` as root). Without an engine the
container tests fail with a message saying so; outside CI, `ADTECH_SKIP_CONTAINER_TESTS=1` skips
them instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from devstack import containers
from tests.api.conftest import api_role_url, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_IMAGE = "localhost/adtech-recs-api:test"
APP_UID = "10001"


@pytest.fixture(scope="module")
def engine() -> containers.Engine:
    try:
        return containers.find_engine()
    except containers.EngineMissing as exc:
        if not IN_CI and os.environ.get("ADTECH_SKIP_CONTAINER_TESTS") == "1":
            pytest.skip(f"ADTECH_SKIP_CONTAINER_TESTS=1: {exc}")
        pytest.fail(f"the container tests need a container engine: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def image(engine: containers.Engine) -> str:
    """The project's Dockerfile, built by the engine (layers cached between runs)."""
    return containers.build(engine, tag=TEST_IMAGE)


@dataclass(frozen=True)
class Container:
    name: str
    base_url: str
    ready_seconds: float


@pytest.fixture(scope="module")
def container(engine: containers.Engine, image: str, published) -> Iterator[Container]:
    """The image's own command on the host's network (a free port), as the read-only role."""
    port = free_port()
    name = f"adtech-api-test-{uuid.uuid4().hex[:10]}"
    env = {
        "ADTECH_API_DATABASE_URL": api_role_url(published.url),
        "UVICORN_HOST": "127.0.0.1",
        "UVICORN_PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with containers.running(engine, image, name, env):
        ready = wait_for(lambda: _status(f"{base}/health/ready") == 200, timeout=60, interval=0.1)
        logs = engine.run("logs", name, check=False)
        assert ready, f"not ready in 60 s:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
        yield Container(name, base, time.monotonic() - started)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_image_is_the_api_only_and_runs_as_non_root(engine, image):
    config = containers.inspect(engine, image)["Config"]
    assert config["User"].split(":")[0] == APP_UID
    test = containers.healthcheck_test(engine, image)  # kept by podman's --format docker
    assert test[0] == "CMD" and "/health/live" in test[-1]
    listing = engine.run("run", "--rm", "--network", "none", image, "ls", "/app").stdout.split()
    assert listing == ["api", "requirements"]
    uid = engine.run("run", "--rm", "--network", "none", image, "id", "-u").stdout.strip()
    assert uid == APP_UID


def test_container_answers_as_the_in_process_app(container, client, published):
    adv, day = published.advertisers[0], published.latest.isoformat()
    for target in (
        f"/recommendations/{adv}/top_ctr",
        f"/recommendations/{adv}/TopProduct?date={published.days[0]}",
        f"/history/{adv}/?days=2",
        f"/recommendations/NOT-AN-ADVERTISER/top_ctr?date={day}",
        "/recommendations/%00/top_ctr",
    ):
        served, expected = httpx.get(container.base_url + target), client.get(target)
        assert served.status_code == expected.status_code, target
        assert served.content == expected.content, target  # the same bytes
    assert httpx.get(f"{container.base_url}/recommendations/%00/top_ctr").status_code == 422


def test_container_is_ready_healthy_and_non_root(engine, container, published):
    ready = httpx.get(f"{container.base_url}/health/ready")
    assert ready.status_code == 200
    assert ready.json()["latest_date"] == published.latest.isoformat()
    assert container.ready_seconds < 30
    assert engine.run("exec", container.name, "id", "-u").stdout.strip() == APP_UID
    # The image's own health check command, run inside the container (works with both engines).
    test = containers.healthcheck_test(engine, TEST_IMAGE)
    assert engine.run("exec", container.name, *test[1:], check=False).returncode == 0
    if engine.name == "podman":
        assert engine.run("healthcheck", "run", container.name, check=False).returncode == 0


def test_compose_file_is_valid_against_the_compose_specification(tmp_path):
    """check-jsonschema's vendored Compose schema (works offline); a typo would fail it."""
    command = [
        str(Path(sys.executable).parent / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
    ]
    result = subprocess.run(
        [*command, "docker-compose.yml"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    typo = (ROOT / "docker-compose.yml").read_text().replace("    depends_on:", "    depend_on:", 1)
    (tmp_path / "docker-compose.yml").write_text(typo)
    result = subprocess.run(
        [*command, "docker-compose.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1 and "depend_on" in result.stdout, result.stdout


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    """Everything git ignores (venvs, the stack's data, caches, .env) stays out of the image."""

    def entries(name: str) -> set[str]:
        lines = (ROOT / name).read_text().splitlines()
        return {
            line.strip().removeprefix("**/").strip("/")
            for line in lines
            if line.strip() and not line.startswith("#")
        }

    assert entries(".gitignore") <= entries(".dockerignore")


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
    assert re.search(r"^ENV UVICORN_HOST=0\.0\.0\.0 \\\n\s+UVICORN_PORT=8000$", text, re.M)


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
        "{'loaders', 'pipeline', 'devstack', 'airflow', 'dbt', 'boto3'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
