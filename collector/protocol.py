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
without one (it would log client addresses). Anything else goes to uvicorn's ASGI cycle, where
the same routes answer it. FIDELIA_COLLECTOR_FAST_PATH=false turns the whole path off.

Group commit: the routes stage their rows (`EventWriter.stage`) and the answer is held; once the
loop has run the callbacks of every socket that was ready in this turn, `HeldAnswers.release`
appends all the staged rows to the spool as one frame (one `write`) and only then writes the
answers, or a 503 to each batch the spool refused. An answer is never sent before its events
are on disk. A connection with an answer held keeps its order: a request of it that must take the
ASGI cycle releases the held answers first.

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
from collector.writer import EventWriter
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
    held: ClassVar[HeldAnswers | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route: HotRoute | None = None
        self._request: CollectRequest | None = None
        self._body = b""
        self._keep_alive = True
        self._answers_held = 0  # this connection's answers waiting in HeldAnswers
        self._shutting_down = False

    def on_headers_complete(self) -> None:
        route = self._hot_route()
        if route is None:
            if self._answers_held and self.held is not None:
                self.held.release()  # the ASGI answer must not overtake this connection's held ones
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
        held = self.held
        staged_before = len(held.writer.staged) if held is not None else 0
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
        close = not self._keep_alive  # of this request: a pipelined one behind it sets its own
        if held is not None:
            staged = len(held.writer.staged) != staged_before
            if staged or self._answers_held:
                self._answers_held += 1
                held.hold(self, response, staged, close)
                return
        self.answer(response, close)

    def answer(self, response: CollectResponse, close: bool) -> None:
        """Write one answer; uvicorn's own bookkeeping follows (counts, keep-alive timer, pipeline).
        A client gone meanwhile gets nothing; its events, if any, are in the spool all the same."""
        if not self.transport.is_closing():
            close = close or (self._shutting_down and not self._answers_held)
            self.transport.write(response.http_bytes(self.server_state.default_headers, close))
            if close:
                self.transport.close()
        self.on_response_complete()

    def release_answer(self, response: CollectResponse, close: bool) -> None:
        self._answers_held -= 1
        self.answer(response, close)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: a connection with answers held closes after the last one."""
        if self._answers_held:
            self._shutting_down = True
        else:
            super().shutdown()

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


class HeldAnswers:
    """The answers of one turn of the event loop, written once their rows are in the spool.

    `release` runs as a loop callback, after the callbacks of every socket that was ready: under
    load a turn answers many connections, and their batches cost one spool `write` in all."""

    def __init__(self, writer: EventWriter, metrics: CollectorMetrics) -> None:
        self.writer = writer
        self.metrics = metrics
        # protocol, answer, whether the request staged rows, whether its connection closes after it
        self._answers: list[tuple[CollectorProtocol, CollectResponse, bool, bool]] = []
        self._scheduled = False

    def hold(self, protocol: CollectorProtocol, response: CollectResponse, staged: bool, close: bool) -> None:
        self._answers.append((protocol, response, staged, close))
        if not self._scheduled:
            self._scheduled = True
            protocol.loop.call_soon(self._released)

    def _released(self) -> None:
        self._scheduled = False
        self.release()

    def release(self) -> None:
        """Commit the staged rows, then write every held answer in the order they came."""
        answers, self._answers = self._answers, []
        try:
            committed: list[FideliaError | None] = [*self.writer.commit()]
        except Exception:  # a bug, not a full disk: no held answer may be left waiting for ever
            batches = sum(staged for _, _, staged, _ in answers)
            log.exception("unexpected error appending %d batches to the spool", batches)
            committed = [INTERNAL_ERROR] * batches
        outcomes = iter(committed)
        for protocol, response, staged, close in answers:
            refused = next(outcomes) if staged else None
            if refused is not None:
                self.metrics.rejected[refused.code] += 1
                response = CollectResponse.for_error(refused)
            protocol.release_answer(response, close)


def protocol_for(routes: dict[tuple[bytes, bytes], HotRoute], max_body_bytes: int, metrics: CollectorMetrics,
                 writer: EventWriter) -> type[CollectorProtocol]:
    """A CollectorProtocol class bound to one app's hot routes (uvicorn instantiates it per connection)."""
    return type("CollectorProtocol", (CollectorProtocol,),
                {"routes": routes, "max_body_bytes": max_body_bytes, "metrics": metrics,
                 "held": HeldAnswers(writer, metrics)})
