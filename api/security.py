"""The optional API-key check: a pure ASGI middleware outside the fast lane.

Off unless `ADTECH_API_KEYS` is set. When on, every request but the health probes must carry one
of the keys in the `X-API-Key` header, `/metrics` and the OpenAPI pages included; anything else
gets the API's JSON error shape with 401. It sits outside `api/fastlane.py`, so an
unauthenticated request never reaches a cached answer, and it costs the hot path only the check
itself: one scan of the request headers, one SHA-256 and one `hmac.compare_digest` per key.

Keys are compared as SHA-256 digests, so the comparison takes the same time whatever the
presented key's length and wherever it differs, and the middleware keeps no key in clear.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import JSON, error_bytes

if TYPE_CHECKING:
    from api.core.config import Settings

HEADER = b"x-api-key"
# Load balancers and App Runner's health check send no key.
EXEMPT_PATHS = frozenset({"/health/live", "/health/live/", "/health/ready", "/health/ready/"})

_UNAUTHORIZED = error_bytes(401, "unauthorized", "missing or invalid X-API-Key header")
_UNAUTHORIZED_HEADERS = [
    (b"content-type", JSON.encode()),
    (b"content-length", str(len(_UNAUTHORIZED)).encode()),
    (b"www-authenticate", b'ApiKey header="X-API-Key"'),
]
_STARTING = error_bytes(503, "starting", "the service is starting")
_STARTING_HEADERS = [
    (b"content-type", JSON.encode()),
    (b"content-length", str(len(_STARTING)).encode()),
    (b"retry-after", b"2"),
]


def key_digests(settings: Settings) -> tuple[bytes, ...]:
    """The SHA-256 digests of the configured keys; empty when the check is off."""
    return tuple(hashlib.sha256(k.get_secret_value().encode()).digest() for k in settings.api_keys)


def authorized(headers: list[tuple[bytes, bytes]], digests: tuple[bytes, ...]) -> bool:
    """True when the request's X-API-Key header matches one of the keys (constant time)."""
    for name, value in headers:
        if name == HEADER:
            presented = hashlib.sha256(value).digest()
            match = False
            for digest in digests:  # no early exit: every key is compared
                match |= hmac.compare_digest(presented, digest)
            return match
    return False


class ApiKeyCheck:
    """Reads the keys once, from the running Service's settings (set by the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._digests: tuple[bytes, ...] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; the API has no websocket route
            await self.app(scope, receive, send)
            return
        digests = self._digests
        if digests is None:
            service = getattr(scope["app"].state, "service", None)
            if service is None:  # settings not read yet: fail closed rather than guess
                await _answer(send, 503, _STARTING_HEADERS, _STARTING)
                return
            digests = self._digests = key_digests(service.settings)
        if not digests or scope["path"] in EXEMPT_PATHS or authorized(scope["headers"], digests):
            await self.app(scope, receive, send)
            return
        await _answer(send, 401, _UNAUTHORIZED_HEADERS, _UNAUTHORIZED)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
