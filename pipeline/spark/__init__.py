"""The Spark target (dbt target `spark`): its load step and its export, which lands the serving
marts in PostgreSQL so that the API never changes."""
