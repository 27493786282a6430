# The recommendation API only: FastAPI + uvicorn on the read-only adtech_api role.
# No Airflow, no dbt: requirements/api.txt is the API's own lock (see pyproject's `api` extra).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# uvicorn reads its address from UVICORN_HOST / UVICORN_PORT: a platform, or a test on the host's
# network, can move the port without another command.
ENV UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=8000

WORKDIR /app

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app

COPY requirements/api.txt requirements/api.txt
RUN pip install --no-cache-dir -r requirements/api.txt

COPY api/ api/

USER 10001:10001
EXPOSE 8000

# Liveness only (no database call): readiness is /health/ready, for orchestrators that want it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['UVICORN_PORT'] + '/health/live', timeout=2)"]

CMD ["uvicorn", "api.main:app", "--loop", "uvloop", "--http", "httptools", "--no-access-log", \
     "--proxy-headers"]
