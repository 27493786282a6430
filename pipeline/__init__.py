"""Orchestration: the ordered steps of a day (load -> dbt build -> export -> publish) and the CLI."""
