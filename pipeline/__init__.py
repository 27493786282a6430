"""Orchestration: a day's ordered steps (load -> dbt build -> export -> publish) and the CLI."""
