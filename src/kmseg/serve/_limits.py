"""The body limit: a POST body over its route's limit gets its 413 as soon as that is known."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Room for the multipart envelope (boundary, part headers) around a file of the largest size.
_MULTIPART_SLACK = 64 * 1024
# Largest body of the other POST routes: their JSON parameters take well under 1 kB.
_PARAMS_BYTES = 64 * 1024


def body_limits(max_upload_bytes: int) -> Callable[[str], tuple[int, str]]:
    """A path -> (largest body in bytes, the 413's message) for :class:`BodyLimit`."""

    def limit_of(path: str) -> tuple[int, str]:
        if path in ("/api/images", "/api/volumes"):
            return (max_upload_bytes + _MULTIPART_SLACK,
                    f"upload larger than {max_upload_bytes:,} bytes")
        return _PARAMS_BYTES, f"request body larger than {_PARAMS_BYTES:,} bytes"

    return limit_of


class _BodyTooLarge(HTTPException):
    """Raised by BodyLimit's receive: FastAPI passes HTTPExceptions from body parsing on (any
    other error there would become a 400), and its handler answers it as JSON."""

    def __init__(self, detail: str) -> None:
        # The rest of the body is never read: the connection cannot serve another request.
        super().__init__(413, detail, headers={"Connection": "close"})


class BodyLimit:
    """Refuse a POST body over its route's limit as soon as that is known: at once when the
    declared Content-Length is over, else when the bytes received pass it, without reading the
    rest (Starlette's multipart parser would spool all of it to a temporary file first)."""

    def __init__(self, app: ASGIApp, limit_of: Callable[[str], tuple[int, str]]) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        limit, message = self.limit_of(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(message)(scope, receive, send)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(message)
            return event

        async def watching_send(event: Message) -> None:
            nonlocal started
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _BodyTooLarge:  # read outside a route's body parsing: answer it here
            if started:
                raise
            await _too_large(message)(scope, receive, send)


def _too_large(message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, 413, headers={"Connection": "close"})
