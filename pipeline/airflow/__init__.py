"""Airflow glue: the tasks both DAGs share, Airflow's settings for this project, `make airflow`."""
