"""`adtech serve` (api.cli.serve, wired into the `adtech` script) starts a server that answers
from the published marts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import api_role_url, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_serve_starts_the_api(published, http):
    port = free_port()
    env = {**os.environ, "ADTECH_API_DATABASE_URL": api_role_url(published.url)}
    command = [sys.executable, "-m", "pipeline", "serve", "--port", str(port)]  # adtech serve
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def ready():
            try:
                return http.get(f"{base}/health/ready").status_code == 200
            except Exception:
                assert proc.poll() is None, proc.stderr.read().decode()
                return False

        assert wait_for(ready, timeout=30, interval=0.2), "adtech serve did not become ready"
        advertiser = published.advertisers[1]
        body = http.get(f"{base}/recommendations/{advertiser}/TopCTR").json()
        assert body["date"] == published.latest.isoformat()
        assert body["model"] == "top_ctr" and body["recommendations"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
