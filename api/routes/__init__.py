"""One router per resource, gathered into `api_router`."""

from fastapi import APIRouter

from api.routes import health, history, overview, recommendations, stats

api_router = APIRouter()
for _module in (recommendations, history, stats, health, overview):
    api_router.include_router(_module.router)
