"""The collector's HTTP routes: `/t.js`, `/collect`, `/p.gif`.

Rule of this module: the request path does no store I/O. A request is read, validated,
enriched and appended to the spool; the writer inserts later. Every per-request check
happens in `_accept`, shared by `/collect` and `/p.gif`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.cookies import VisitState, secure_for
from collector.enrich import RequestContext, build_rows
from collector.http import AsgiEndpoint, CollectRequest, CollectResponse, Handler, Receive, Scope, Send
from collector.metrics import CollectorMetrics
from collector.snippet import Snippet
from collector.useragent import parse_user_agent
from collector.validate import BatchIn, decode_batch, event_from_query
from collector.writer import EventWriter
from fidelia.errors import FideliaError, OriginNotAllowed, UnsupportedContentType
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry

PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
CONTENT_TYPES = ("application/json", "text/plain")
SESSION_COOKIE_MAX_AGE = 24 * 3600
PIXEL_HEADERS = (("content-type", "image/gif"), ("cache-control", "no-store"))


class CollectorEndpoints:
    """Holds what the routes share: settings, sites, the writer, the clock."""

    def __init__(
        self,
        settings: Settings,
        sites: SiteRegistry,
        writer: EventWriter,
        metrics: CollectorMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.sites = sites
        self.writer = writer
        self.metrics = metrics
        self.clock = clock
        self.snippet = Snippet.load()
        self.timeout_ms = settings.session_timeout_minutes * 60_000
        self.max_age_ms = settings.max_event_age_days * 86_400_000

    def routes(self) -> list[Route]:
        return [
            Route("/t.js", self.snippet_js, methods=["GET", "HEAD"]),
            Route("/collect", AsgiEndpoint(self.collect), methods=["POST", "OPTIONS"]),
            Route("/p.gif", AsgiEndpoint(self.pixel), methods=["GET"]),
        ]

    def hot_routes(self) -> dict[str, tuple[frozenset[str], Handler]]:
        """The same two routes for HotPathMiddleware, which serves them ahead of the router."""
        return {"/collect": (frozenset({"POST", "OPTIONS"}), self.collect), "/p.gif": (frozenset({"GET"}), self.pixel)}

    async def snippet_js(self, request: Request) -> Response:
        headers = {"ETag": self.snippet.etag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.snippet.etag:
            return Response(status_code=304, headers=headers)
        body = self.snippet.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = self.snippet.gzipped, "gzip"
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    # /collect and /p.gif are the hot path: plain ASGI (collector/http.py), no Starlette objects.

    async def collect(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = CollectRequest(scope, receive)
        if request.method == "OPTIONS":
            await self._preflight(request).send(send)
            return
        try:
            content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type not in CONTENT_TYPES:
                raise UnsupportedContentType(
                    f"Content-Type {content_type or 'missing'!r}: send application/json or text/plain"
                )
            body = await request.body(self.settings.max_body_bytes)
            batch = decode_batch(body, self.settings.max_batch_events)
            response = self._accept(request, batch, CollectResponse(204))
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise
        await response.send(send)

    async def pixel(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = CollectRequest(scope, receive)
        try:
            batch = event_from_query(request.query_params())
            response = self._accept(request, batch, CollectResponse(200, PIXEL, [*PIXEL_HEADERS]))
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise
        await response.send(send)

    def _accept(self, request: CollectRequest, batch: BatchIn, response: CollectResponse) -> CollectResponse:
        """Every per-request check and the spool append: the one place a batch is let in."""
        headers = request.headers
        site = self.sites.get(batch.site_id)
        origin = headers.get("origin")
        if origin is not None and not site.allows_origin(origin, request.own_origin()):
            raise OriginNotAllowed(
                f"origin {origin[:100]!r} is not allowed for site {site.site_id!r}: add it to the site's origins",
                field="origin",
            )
        visit = VisitState.from_cookies(request.cookies())
        ctx = RequestContext(
            received_ms=int(self.clock() * 1000),
            ua=parse_user_agent(headers.get("user-agent", "")),
            max_age_ms=self.max_age_ms,
            session_timeout_ms=self.timeout_ms,
        )
        rows = build_rows(batch, site, visit, ctx)
        self.writer.accept(rows)
        secure = secure_for(self.settings, headers.get("x-forwarded-proto", ""), request.scheme)
        for value in visit.set_cookie_headers(secure, self.settings.cookie_domain, SESSION_COOKIE_MAX_AGE):
            response.add("set-cookie", value)
        if origin is not None:
            _allow_cors(response, origin)
        return response

    def _preflight(self, request: CollectRequest) -> CollectResponse:
        # The site is in the body, which a preflight lacks: allow any configured origin here,
        # the POST itself is checked against its own site.
        origin = request.headers.get("origin", "")
        response = CollectResponse(204)
        if any(site.allows_origin(origin, request.own_origin()) for site in self.sites):
            _allow_cors(response, origin)
            response.add("access-control-allow-methods", "POST")
            response.add("access-control-allow-headers", "Content-Type")
            response.add("access-control-max-age", "86400")
        return response


def _allow_cors(response: CollectResponse, origin: str) -> None:
    response.add("access-control-allow-origin", origin)
    response.add("access-control-allow-credentials", "true")
    response.add("vary", "Origin")
