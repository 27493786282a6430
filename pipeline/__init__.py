"""Orchestration: a day's steps (load -> dbt build -> export -> publish -> cleanup) and the CLI.

Sub-packages, each importing only those listed before it:

    settings.py  the pipeline's settings, from the environment
    steps/       what each step does, engine-independent (dbt, exports, publication, runs, cleanup)
    spark/       the Spark target's load and export (dbt target `spark`)
    flow/        the steps in order, for a day or a range, and the runner without a scheduler
    airflow/     the DAGs' glue: shared tasks, Airflow's settings, `make airflow`
    cli/         the `adtech` console script and `make demo`
"""
