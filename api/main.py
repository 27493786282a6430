"""The FastAPI application, built once: `uvicorn api.main:app`.

The lifespan reads the settings, opens the service (pool, cache, published dates), polls
`ops.published_days` in the background, and closes the pool on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

from api.core.config import Settings
from api.errors import install_error_handlers
from api.fastlane import CachedRecommendations
from api.metrics import LATENCY, REQUESTS
from api.offline_docs import install_offline_docs
from api.openapi import install_live_examples
from api.routes import api_router
from api.security import ApiKeyCheck
from api.service import Service

DESCRIPTION = """Recommendations of the nightly pipeline (TopCTR and TopProduct per advertiser),
served from memory. Only published dates are served; the default is the latest published date."""


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    service = Service(app.state.settings or Settings())
    app.state.service = service
    await service.refresh_publications()  # a database that is down now only delays readiness
    watcher = asyncio.create_task(service.watch_publications())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        service.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """`settings=None` reads them from the environment when the app starts, not at import."""
    app = FastAPI(
        title="adtech-recs API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # served by install_offline_docs, with local assets (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.include_router(api_router)
    install_error_handlers(app)
    app.add_middleware(CachedRecommendations)  # added before the instrumentator: inside it
    app.add_middleware(ApiKeyCheck)  # outside the fast lane: no cached answer without a key
    instrumentator = Instrumentator(excluded_handlers=["/metrics", "/metrics/"]).add(
        REQUESTS, LATENCY
    )
    instrumentator.instrument(app)
    for path in ("/metrics", "/metrics/"):
        instrumentator.expose(app, endpoint=path, include_in_schema=False)
    install_live_examples(app)
    install_offline_docs(app)
    return app


app = create_app()
