"""Fixtures of the API tests: published marts in a real PostgreSQL, and the app on top of them."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg2
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from tests.api.sample_marts import Published, fill_published_marts

DAYS = [dt.date(2024, 11, 18), dt.date(2024, 11, 19), dt.date(2024, 11, 20)]
ADVERTISERS = 30
FAST_POLL = 0.2  # seconds: tests wait for a new day, so poll often


def api_role_url(url: str) -> str:
    """The same database, as the read-only adtech_api role (the local stack trusts it)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"adtech_api@{parts.hostname}:{parts.port}"))


@contextlib.contextmanager
def new_database(admin_url: str) -> Iterator[str]:
    """A database that lives as long as the block (fresh_db is per test; this can be shared)."""
    name = f"t_api_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'create database "{name}"')
        yield admin_url.rsplit("/", 1)[0] + "/" + name
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        conn.close()


@pytest.fixture(scope="session")
def published(admin_url: str) -> Iterator[Published]:
    """Three published days for 30 advertisers, shared by the read-only tests.

    The ONE place that makes published marts: fill_published_marts writes them directly today;
    switch it to the real pipeline (generate + pipeline.steps.run_day per day) when that exists.
    """
    with new_database(admin_url) as url:
        yield fill_published_marts(url, DAYS, ADVERTISERS)


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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
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
