"""The recommendation API: FastAPI over `marts.*` and `ops.published_days`, read-only.

Layout (after fastapi/full-stack-fastapi-template): `main.py` builds the app, `routes/` has one
router per resource, `core/` holds settings and the database pool, `service.py` answers from the
cache or the database, `queries.py` holds the SQL.
"""
