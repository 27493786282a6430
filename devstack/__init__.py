"""Local stack for demos and tests: PostgreSQL and an S3 endpoint without Docker, plus sample data."""
