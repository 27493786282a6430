"""GET /health/live and /health/ready"""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.errors import documented
from api.models import Live, Ready
from api.routes.slash import get_both

router = APIRouter(prefix="/health", tags=["health"])


@get_both(router, "/live", response_model=Live)
async def live() -> Live:
    """The process answers (no database call)."""
    return Live()


@get_both(router, "/ready", response_model=Ready, responses=documented(503))
async def ready(request: Request) -> Ready:
    """The database answers and at least one date is published; 503 otherwise."""
    return await request.app.state.service.ready()
