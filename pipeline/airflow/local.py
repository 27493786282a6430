"""`make airflow`: Airflow's UI and scheduler against the local stack, to watch and trigger runs.

Runs `airflow standalone` (API server + UI, scheduler, DAG processor, triggerer) with the
project's settings: LocalExecutor, parallelism 2, metadata in the stack's PostgreSQL.
"""

from __future__ import annotations

import os

from rich.console import Console

from devstack import stack
from pipeline.airflow.env import airflow_env, migrate


def main() -> None:
    console = Console()
    st = stack.up()
    os.environ.update(st.env)
    env = airflow_env(home=st.root / "airflow")
    env.setdefault("AIRFLOW__API__PORT", "8080")
    # Catch-up covers the demo's week unless told otherwise, not every day since 2024.
    env.setdefault("ADTECH_DAG_END_DATE", "2024-11-26")
    migrate(env)  # done by stack.up unless the environment names another metadata database
    console.print(
        f"Airflow UI on http://127.0.0.1:{env['AIRFLOW__API__PORT']} (user and password are printed"
        f" below by Airflow and kept in {env['AIRFLOW_HOME']}). The DAG catches up from"
        " ADTECH_DAG_START_DATE (default 2024-11-20) to ADTECH_DAG_END_DATE"
        " (default here: 2024-11-26, the demo's week)."
    )
    os.execvpe("airflow", ["airflow", "standalone"], env)


if __name__ == "__main__":
    main()
