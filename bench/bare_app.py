"""The baseline of bench/api_bench.py: the same route shape in a bare FastAPI app that returns a
fixed pre-serialised body of BENCH_BODY_BYTES bytes (no cache, no database, no middleware)."""

from __future__ import annotations

import os

from fastapi import FastAPI, Response

_SIZE = int(os.environ.get("BENCH_BODY_BYTES", "2000"))
BODY = b'{"pad":"' + b"x" * max(_SIZE - 10, 0) + b'"}'

app = FastAPI()


@app.get("/recommendations/{advertiser_id}/{model}")
async def fixed(advertiser_id: str, model: str) -> Response:
    return Response(BODY, media_type="application/json")
