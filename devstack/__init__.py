"""Local stack for demos and tests: PostgreSQL and an S3 endpoint (no Docker), and sample data."""
