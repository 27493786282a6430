#!/usr/bin/env bash
# Installs or updates the project on the Airflow instance from the bundle unpacked in
# /opt/adtech/app: the exact versions of requirements/dev.txt (the project's lock file) in
# /opt/adtech/venv, then the systemd units (deploy/aws/airflow_host.py). Run as root by the
# instance's user data on first boot and by `adtech deploy up` (Session Manager) on updates.
# Host settings (no secrets) come from /etc/adtech-host.env, written by the user data.
set -euo pipefail

PREFIX=/opt/adtech
APP="$PREFIX/app"
VENV="$PREFIX/venv"

id adtech >/dev/null 2>&1 || useradd --system --home-dir "$PREFIX" --shell /sbin/nologin adtech
[[ -x "$VENV/bin/python" ]] || python3.11 -m venv "$VENV"
# The same uv as the Makefile's, so the lock file resolves exactly as it does for developers.
uv_version="$(sed -n 's/^UV_VERSION := //p' "$APP/Makefile")"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
"$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" \
    "$APP/requirements/dev.txt"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps \
    --config-settings editable_mode=compat -e "$APP"

set -a
# shellcheck source=/dev/null
. /etc/adtech-host.env
set +a
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
# dbt's manifest, which the DAGs render their Cosmos tasks from (pipeline/airflow/manifest.py),
# made now for the host's dbt target rather than by the first DAG parse after an update.
"$VENV/bin/python" -m pipeline.airflow.manifest
"$VENV/bin/python" -m deploy.aws.airflow_host install
