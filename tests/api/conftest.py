"""Fixtures of the API tests: published marts in a real PostgreSQL, and the app on top of them."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from tests.api.sample_marts import Published, describe_published
from tests.nights import NO_ADS, SILENT, published_nights

ROOT = Path(__file__).resolve().parents[2]
FAST_POLL = 0.2  # seconds: tests wait for a new day, so poll often


def api_role_url(url: str) -> str:
    """The same database, as the read-only adtech_api role (the local stack trusts it)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"adtech_api@{parts.hostname}:{parts.port}"))


@pytest.fixture(scope="session")
def published(
    stack, s3, admin_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[Published]:
    """Three days published by the real pipeline (tests/nights.py: published_nights, run once
    for the whole test run), in a database of this folder's own, shared by the tests that only
    read: two extra advertisers on every day's active list, one with product views but no ad
    events (no TopCTR list), one with no events at all."""
    nights = published_nights(tmp_path_factory, worker_id, stack, s3, admin_url)
    with nights.database(admin_url, prefix="t_api") as url:
        yield describe_published(url, no_ads=NO_ADS, silent=SILENT)


def settings_for(url: str, **overrides) -> Settings:
    return Settings(database_url=api_role_url(url), poll_interval_seconds=FAST_POLL, **overrides)


@pytest.fixture(scope="session")
def client(published: Published) -> Iterator[TestClient]:
    """The app (lifespan running) as the read-only role on the shared published database."""
    with TestClient(create_app(settings_for(published.url)), raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """A real uvicorn server in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def wait_for(condition, timeout: float, interval: float = 0.05):
    """Poll `condition()` until it returns something truthy; that value, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    return None


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c
