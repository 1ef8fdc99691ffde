"""`/collect` and `/p.gif` answered inside uvicorn's HTTP protocol, ahead of ASGI.

Measured on this machine (docs/PERFORMANCE.md): an empty Starlette 204 under uvicorn answers
~30k requests a second, the same 204 written by the HTTP protocol itself ~130k. Uvicorn's ASGI
cycle (a task, an Event, message dicts, the middleware chain) and Starlette cost ~25 µs a
request, more than the collector's own work (~20 µs). So `fidelia serve` answers the two hot
routes where httptools hands over a complete request, and runs there the very code the ASGI
routes run (`CollectorEndpoints.collect_now` / `pixel_now`): the same checks, cookies, errors
and spool append; only the plumbing differs. Every other route goes through Starlette.

A request takes this path only when it is plain: exact path and method, a Content-Length
body within FIDELIA_MAX_BODY_BYTES (or none), no `Expect: 100-continue`, no upgrade, no
concurrency limit configured, and no earlier request of the connection still being answered,
so pipelined answers keep their order. It writes no access-log line: Fidelia runs uvicorn
without one (it would log client addresses). Anything else goes to uvicorn's ASGI cycle, where the
same routes answer it. FIDELIA_COLLECTOR_FAST_PATH=false turns the whole path off.

This subclasses uvicorn's `HttpToolsProtocol` and reads a few of its attributes (parser, cycle,
pipeline, headers, server_state): tests/collector/test_protocol.py runs both paths side by
side over real sockets, so an uvicorn change that breaks them fails there.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from collector.http import CollectRequest, CollectResponse, HotRoute, Scope
from collector.metrics import CollectorMetrics
from fidelia.errors import FideliaError, InternalError

log = logging.getLogger(__name__)

INTERNAL_ERROR = InternalError("unexpected error on a collector route")


class CollectorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the collector's hot routes answered in place.

    Use `protocol_for(...)`, which binds the routes; this class itself has none and so
    behaves exactly like its parent."""

    routes: ClassVar[dict[tuple[bytes, bytes], HotRoute]] = {}
    max_body_bytes: ClassVar[int] = 0
    metrics: ClassVar[CollectorMetrics | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route: HotRoute | None = None
        self._request: CollectRequest | None = None
        self._body = b""
        self._keep_alive = True

    def on_headers_complete(self) -> None:
        route = self._hot_route()
        if route is None:
            super().on_headers_complete()
            return
        self._route, self._body = route, b""

    def on_body(self, body: bytes) -> None:
        if self._route is None:
            super().on_body(body)
            return
        self._body += body

    def on_message_complete(self) -> None:
        if self._route is None:
            super().on_message_complete()
            return
        route, request, self._route, self._request = self._route, self._request, None, None
        assert request is not None
        try:
            response = route(request, self._body)
        except FideliaError as exc:
            if exc.status == 500:
                log.error("%s on %s %s: %s", exc.code, request.method, request.scope["path"], exc.message)
            response = CollectResponse.for_error(exc)
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.scope["path"])
            response = CollectResponse.for_error(INTERNAL_ERROR)
        self._body = b""
        if self.metrics is not None:
            self.metrics.answered_in_protocol += 1
        close = not self._keep_alive
        self.transport.write(response.http_bytes(self.server_state.default_headers, close))
        if close:
            self.transport.close()
        self.on_response_complete()  # uvicorn's own bookkeeping: counts, keep-alive timer, pipeline

    def _hot_route(self) -> HotRoute | None:
        """The hot route this request goes to, or None when it must take the ASGI cycle."""
        method = self.parser.get_method()
        path, _, query = self.url.partition(b"?")
        route = self.routes.get((method, path))
        if route is None or self.root_path or self.expect_100_continue or self.limit_concurrency is not None:
            return None
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            return None  # an earlier answer of this connection is still on its way
        if self.parser.should_upgrade():
            return None
        scope = cast(Scope, self.scope)  # uvicorn's TypedDict, filled in as its on_headers_complete would
        scope["method"] = method.decode("ascii")
        scope["path"] = path.decode("ascii")
        scope["raw_path"] = path
        scope["query_string"] = query
        http_version = self.parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        request = CollectRequest(scope)
        length = request.headers.get("content-length")
        if "transfer-encoding" in request.headers or (
            length is not None and not (length.isdigit() and int(length) <= self.max_body_bytes)
        ):
            return None  # chunked or too big: the ASGI route reads and refuses it
        self._request = request
        self._keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
        return route


def protocol_for(routes: dict[tuple[bytes, bytes], HotRoute], max_body_bytes: int,
                 metrics: CollectorMetrics) -> type[CollectorProtocol]:
    """A CollectorProtocol class bound to one app's hot routes (uvicorn instantiates it per connection)."""
    return type("CollectorProtocol", (CollectorProtocol,),
                {"routes": routes, "max_body_bytes": max_body_bytes, "metrics": metrics})
