"""One JSON shape for every error (models.ErrorBody), and the handlers that produce it."""

from __future__ import annotations

import logging
from http import HTTPStatus

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.db import DatabaseUnavailable
from api.models import ErrorBody

log = logging.getLogger(__name__)
JSON = "application/json"
RETRY_AFTER_SECONDS = "2"


class ApiError(Exception):
    """An expected failure with its status, a stable code and a message for humans."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_bytes(status: int, code: str, message: str, details: list[dict] | None = None) -> bytes:
    return orjson.dumps(
        {"status": status, "code": code, "message": message, "details": details or []}
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_bytes(status, code, message, details), status, headers, media_type=JSON)


async def _api_error(_: Request, exc: ApiError) -> Response:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if exc.status == 503 else None
    return error_response(exc.status, exc.code, exc.message, headers=headers)


async def _unavailable(_: Request, exc: DatabaseUnavailable) -> Response:
    return error_response(
        503, "database_unavailable", str(exc), headers={"Retry-After": RETRY_AFTER_SECONDS}
    )


async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _invalid(_: Request, exc: RequestValidationError) -> Response:
    details = [
        {"location": [str(p) for p in err["loc"]], "message": err["msg"]} for err in exc.errors()
    ]
    message = "; ".join(f"{d['location'][-1]}: {d['message']}" for d in details)
    return error_response(422, "invalid_request", message or "invalid request", details)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error (logged by the service)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)


def documented(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses=` entries for the error statuses a route can answer."""
    descriptions = {
        404: "Not found (see `code`)",
        422: "Invalid parameter (see `details`)",
        503: "Database unavailable or nothing published yet; retry later",
    }
    return {s: {"model": ErrorBody, "description": descriptions[s]} for s in statuses}
