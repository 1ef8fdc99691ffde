"""The collector's HTTP routes: `/t.js`, `/collect`, `/p.gif`.

Rule of this module: the request path does no store I/O. A request is read, validated,
enriched and appended to the spool; the writer inserts later.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.cookies import VisitState, secure_cookies
from collector.enrich import RequestContext, build_rows
from collector.metrics import CollectorMetrics
from collector.snippet import Snippet
from collector.useragent import parse_user_agent
from collector.validate import BatchIn, decode_batch, event_from_query
from collector.writer import EventWriter
from fidelia.errors import BodyTooLarge, FideliaError, OriginNotAllowed, UnsupportedContentType
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry

PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
CONTENT_TYPES = ("application/json", "text/plain")
SESSION_COOKIE_MAX_AGE = 24 * 3600
NO_STORE = {"Cache-Control": "no-store"}


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
            Route("/collect", self.collect, methods=["POST", "OPTIONS"]),
            Route("/p.gif", self.pixel, methods=["GET"]),
        ]

    async def snippet_js(self, request: Request) -> Response:
        headers = {"ETag": self.snippet.etag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.snippet.etag:
            return Response(status_code=304, headers=headers)
        body = self.snippet.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = self.snippet.gzipped, "gzip"
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    async def collect(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight(request)
        try:
            content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type not in CONTENT_TYPES:
                raise UnsupportedContentType(
                    f"Content-Type {content_type or 'missing'!r}: send application/json or text/plain"
                )
            body = await self._read_body(request)
            batch = decode_batch(body, self.settings.max_batch_events)
            return self._accept(request, batch, Response(status_code=204))
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise

    async def pixel(self, request: Request) -> Response:
        try:
            batch = event_from_query(dict(request.query_params))
            return self._accept(request, batch, Response(PIXEL, media_type="image/gif", headers=dict(NO_STORE)))
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"body of {declared} bytes is over the {limit} byte limit: send smaller batches")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"body is over the {limit} byte limit: send smaller batches")
            chunks.append(chunk)
        return b"".join(chunks)

    def _accept(self, request: Request, batch: BatchIn, response: Response) -> Response:
        site = self.sites.get(batch.site_id)
        origin = request.headers.get("origin")
        if origin is not None and not site.allows_origin(origin, _own_origin(request)):
            raise OriginNotAllowed(
                f"origin {origin[:100]!r} is not allowed for site {site.site_id!r}: add it to the site's origins",
                field="origin",
            )
        visit = VisitState.from_cookies(_cookies(request))
        ctx = RequestContext(
            received_ms=int(self.clock() * 1000),
            ua=parse_user_agent(request.headers.get("user-agent", "")),
            max_age_ms=self.max_age_ms,
            session_timeout_ms=self.timeout_ms,
        )
        rows = build_rows(batch, site, visit, ctx)
        self.writer.accept(rows)
        for value in visit.set_cookie_headers(secure_cookies(self.settings, request), self.settings.cookie_domain,
                                              SESSION_COOKIE_MAX_AGE):
            response.headers.append("set-cookie", value)
        if origin is not None:
            _allow_cors(response, origin)
        return response

    def _preflight(self, request: Request) -> Response:
        # The site is in the body, which a preflight lacks: allow any configured origin here,
        # the POST itself is checked against its own site.
        origin = request.headers.get("origin", "")
        response = Response(status_code=204)
        if any(site.allows_origin(origin, _own_origin(request)) for site in self.sites):
            _allow_cors(response, origin)
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "86400"
        return response


def _allow_cors(response: Response, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Vary"] = "Origin"


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def _cookies(request: Request) -> dict[str, str]:
    # Starlette's request.cookies is lenient on malformed headers, which is what we want.
    return request.cookies if request.headers.get("cookie") else {}

