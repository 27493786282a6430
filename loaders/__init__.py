"""Loaders: the day's S3 logs into PostgreSQL raw tables (streamed COPY, idempotent per day)."""
