"""A lean request and response for `/collect` and `/p.gif`, straight on ASGI.

Starlette's Request, Headers, URL and Response objects cost about as much as everything else
the collector does for a batch (profiled in docs/PERFORMANCE.md), so the two hot routes read
the ASGI scope and send their answer themselves. They stay Starlette routes: routing, 405s
and the one FideliaError → JSON handler are unchanged. A request refused with a FideliaError
raises before anything is sent, so that handler still writes the error answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp

from fidelia.errors import BodyTooLarge, FideliaError, error_payload

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
# A hot route as collector/protocol.py calls it: the request and its whole body, answered at once.
HotRoute = Callable[["CollectRequest", bytes], "CollectResponse"]
JSON = msgspec.json.Encoder()


class CollectRequest:
    """What the collector reads from a request. `headers` maps lowercase names to the first
    value sent (latin-1, as Starlette decodes them), so `request.headers.get(name)` reads as it
    does on a Starlette request."""

    __slots__ = ("headers", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        self.scope = scope
        self.receive = receive
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            name = key.decode("latin-1")
            if name not in headers:
                headers[name] = value.decode("latin-1")
        self.headers = headers

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def scheme(self) -> str:
        return str(self.scope.get("scheme", "http"))

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer address, for in-memory per-client checks only: never stored or logged."""
        return self.scope.get("client")

    def own_origin(self) -> str:
        return f"{self.scheme}://{self.headers.get('host', '')}"

    def query_params(self) -> dict[str, str]:
        # Same decoding as Starlette's QueryParams; a repeated key keeps its last value.
        return dict(parse_qsl(self.scope["query_string"].decode("latin-1"), keep_blank_values=True))

    def cookies(self) -> dict[str, str]:
        # Starlette's parser is lenient on malformed headers, which is what we want.
        header = self.headers.get("cookie")
        return cookie_parser(header) if header else {}

    async def body(self, limit: int) -> bytes:
        """The whole body, refused as soon as it passes `limit` bytes (declared or streamed)."""
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"body of {declared} bytes is over the {limit} byte limit: send smaller batches")
        message = await self._next()
        body = message.get("body", b"")
        if not message.get("more_body", False) and len(body) <= limit:
            return bytes(body)
        chunks, size = [body], len(body)
        while True:
            if size > limit:
                raise BodyTooLarge(f"body is over the {limit} byte limit: send smaller batches")
            if not message.get("more_body", False):
                return b"".join(chunks)
            message = await self._next()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)

    async def _next(self) -> Message:
        if self.receive is None:
            raise RuntimeError("this request's body was read by the protocol, not through ASGI")
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        return message


class CollectResponse:
    """A status, a body and raw headers, sent in two ASGI messages."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []

    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    @classmethod
    def for_error(cls, error: FideliaError) -> CollectResponse:
        """The JSON answer to a refused request, as the app's FideliaError handler writes it."""
        status, body = error_payload(error)
        headers = [("content-type", "application/json")]
        if error.retry_after is not None and status != 500:
            headers.append(("retry-after", str(error.retry_after)))
        return cls(status, JSON.encode(body), headers)

    async def send(self, send: Send) -> None:
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]
        if self.body or self.status != 204:
            raw.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})

    def http_bytes(self, default_headers: list[tuple[bytes, bytes]], close: bool) -> bytes:
        """The whole HTTP/1.1 answer, for collector/protocol.py to write to the socket itself.

        Header values are ours (cookies of validated ids, settings) or an Origin the site's
        configuration allowed, which the request parser already kept free of CR and LF."""
        head = [STATUS_LINES.get(self.status) or _status_line(self.status)]
        head += [b"%s: %s\r\n" % pair for pair in default_headers]
        head += [f"{name}: {value}\r\n".encode("latin-1") for name, value in self.headers]
        if self.body or self.status != 204:
            head.append(b"content-length: %d\r\n" % len(self.body))
        if close:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", self.body]
        return b"".join(head)


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


STATUS_LINES = {status: _status_line(status) for status in (200, 204, 400, 403, 404, 413, 415, 422, 429, 500, 503)}


class AsgiEndpoint:
    """Makes a Starlette Route hand the raw ASGI call to `handler` (a bound method would be
    wrapped in Starlette's Request/Response machinery)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class HotPathMiddleware:
    """Hands `/collect` and `/p.gif` to the collector before Starlette's exception middleware
    and router (a few microseconds a request, a tenth of the collector's own work).

    Only exact paths with an allowed method and no root_path take this path; anything else
    (a 405, a mounted app) goes through the same routes as before. A FideliaError is answered
    by the app's own handler, so the error answers stay the same."""

    def __init__(self, app: ASGIApp, routes: dict[str, tuple[frozenset[str], Handler]],
                 on_error: ErrorHandler) -> None:
        self.app = app
        self.routes = routes
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.routes.get(scope["path"])
            if route is not None and scope["method"] in route[0]:
                try:
                    await route[1](scope, receive, send)
                except FideliaError as exc:
                    response = await self.on_error(Request(scope, receive), exc)
                    await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
