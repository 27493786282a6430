from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def airflow_home(stack, tmp_path_factory):
    """Airflow's settings for these tests (read when airflow is first imported)."""
    import os

    from pipeline.airflow.env import airflow_env

    home = tmp_path_factory.mktemp("airflow_home")
    saved = dict(os.environ)
    os.environ.update(
        {
            k: v
            for k, v in airflow_env(home=home).items()
            if k.startswith("AIRFLOW") or k == "PYTHONPATH"
        }
    )
    yield home
    os.environ.clear()
    os.environ.update(saved)
