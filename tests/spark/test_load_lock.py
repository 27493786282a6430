"""The Spark target's load lock: one load at a time per Spark target, across processes and hosts
(an advisory lock in the pipeline's PostgreSQL, which every Airflow worker reaches), released
when its holder dies. No Spark needed: the lock is what is tested."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from pipeline.settings import get_settings
from pipeline.spark.load import one_load_at_a_time

HOLD = """
import sys, time
from pipeline.spark.load import one_load_at_a_time
with one_load_at_a_time():
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def spark_target(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "DATABASE_URL": admin_url,
        "ADTECH_SPARK_HOST": "spark-thrift.example",
        "ADTECH_SPARK_PORT": "10001",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def test_a_load_waits_for_another_processes_load_and_not_for_its_corpse(spark_target):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD],
        env={**os.environ, **spark_target},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        entered = threading.Event()

        def load() -> None:
            with one_load_at_a_time():
                entered.set()

        waiter = threading.Thread(target=load, daemon=True)
        waiter.start()
        assert not entered.wait(2), "a second load ran while another process held the lock"

        # Another Spark target's loads do not wait for this one's.
        os.environ["ADTECH_SPARK_PORT"] = "10002"
        try:
            other = threading.Event()
            threading.Thread(target=lambda: _enter(other), daemon=True).start()
            assert other.wait(10)
        finally:
            os.environ["ADTECH_SPARK_PORT"] = spark_target["ADTECH_SPARK_PORT"]
        assert not entered.is_set()

        holder.kill()  # dies holding it: its session ends, and the lock with it
        holder.wait()
        assert entered.wait(20)
        waiter.join(5)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def _enter(done: threading.Event) -> None:
    with one_load_at_a_time():
        done.set()
