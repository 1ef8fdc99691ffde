"""The collector's HTTP routes: `/t.js`, `/collect`, `/p.gif`, `/consent`.

Rule of this module: the request path does no store I/O. A request is read, validated,
enriched and appended to the spool; the writer inserts later. Every per-request check
happens in `_accept`, shared by `/collect` and `/p.gif`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.consent import (
    ConsentPolicy,
    choice_cookie_header,
    decode_choice,
    forget_cookie_headers,
    strip_identifiers,
)
from collector.cookies import VisitState, secure_for
from collector.enrich import RequestContext, build_rows
from collector.http import AsgiEndpoint, CollectRequest, CollectResponse, Handler, HotRoute, Receive, Scope, Send
from collector.metrics import CollectorMetrics
from collector.ratelimit import RateLimiter, client_address
from collector.snippet import Snippet
from collector.useragent import parse_user_agent
from collector.validate import BatchIn, decode_batch, event_from_query
from collector.writer import EventWriter
from fidelia.errors import FideliaError, OriginNotAllowed, RateLimited, UnsupportedContentType
from fidelia.settings import Settings
from fidelia.sites import Site, SiteRegistry

PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
CONTENT_TYPES = ("application/json", "text/plain")
SESSION_COOKIE_MAX_AGE = 24 * 3600
PIXEL_HEADERS = (("content-type", "image/gif"), ("cache-control", "no-store"))
NO_STORE = ("cache-control", "no-store")


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
        self.consent = ConsentPolicy()
        exempt = frozenset(a.strip() for a in settings.rate_limit_exempt.split(",") if a.strip())
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst, exempt)

    def routes(self) -> list[Route]:
        return [
            Route("/t.js", self.snippet_js, methods=["GET", "HEAD"]),
            Route("/collect", AsgiEndpoint(self.collect), methods=["POST", "OPTIONS"]),
            Route("/p.gif", AsgiEndpoint(self.pixel), methods=["GET"]),
            Route("/consent", AsgiEndpoint(self.consent_choice), methods=["POST"]),
        ]

    def hot_routes(self) -> dict[str, tuple[frozenset[str], Handler]]:
        """The same two routes for HotPathMiddleware, which serves them ahead of the router."""
        return {"/collect": (frozenset({"POST", "OPTIONS"}), self.collect), "/p.gif": (frozenset({"GET"}), self.pixel)}

    def protocol_routes(self) -> dict[tuple[bytes, bytes], HotRoute]:
        """The same two routes again for collector/protocol.py, which answers them inside uvicorn's
        HTTP protocol once it holds the whole request (`fidelia serve`). They stage their rows: the
        protocol commits a loop turn's batches to the spool together before it answers them."""
        return {(b"POST", b"/collect"): partial(self.collect_now, staged=True),
                (b"GET", b"/p.gif"): partial(self.pixel_now, staged=True)}

    async def snippet_js(self, request: Request) -> Response:
        headers = {"ETag": self.snippet.etag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.snippet.etag:
            return Response(status_code=304, headers=headers)
        body = self.snippet.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = self.snippet.gzipped, "gzip"
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    # /collect and /p.gif are the hot path: plain ASGI (collector/http.py), no Starlette objects, or
    # no ASGI at all under `fidelia serve` (collector/protocol.py). Both run the same code below.

    async def collect(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = CollectRequest(scope, receive)
        if request.method == "OPTIONS":
            await self._preflight(request).send(send)
            return
        try:
            self._before_body(request)
            body = await request.body(self.settings.max_body_bytes)
            response = self._collect_batch(request, body)
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise
        await response.send(send)

    def collect_now(self, request: CollectRequest, body: bytes, staged: bool = False) -> CollectResponse:
        """POST /collect with its body already read (by the protocol, within the size limit)."""
        try:
            self._before_body(request)
            return self._collect_batch(request, body, staged)
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise

    async def pixel(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.pixel_now(CollectRequest(scope, receive), b"").send(send)

    def pixel_now(self, request: CollectRequest, body: bytes, staged: bool = False) -> CollectResponse:
        """GET /p.gif: the event is in the query string, a body is ignored."""
        try:
            self._limit(request)
            batch = event_from_query(request.query_params())
            return self._accept(request, batch, CollectResponse(200, PIXEL, [*PIXEL_HEADERS]), staged)
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise

    async def consent_choice(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The visitor grants or refuses: remember it in fid_consent; a refusal deletes the tracking cookies."""
        request = CollectRequest(scope, receive)
        try:
            self._limit(request)
            choice = decode_choice(await self._read_body(request))
            site = self.sites.get(choice.site_id)
            origin = self._check_origin(request, site)
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise
        response = CollectResponse(204, headers=[NO_STORE])
        secure, domain = self._secure(request), self.settings.cookie_domain
        response.add("set-cookie", choice_cookie_header(choice.consent, secure, domain))
        if choice.consent == "refused":
            for value in forget_cookie_headers(request.cookies(), secure, domain):
                response.add("set-cookie", value)
        self.metrics.consent_choices[choice.consent] += 1
        if origin is not None:
            _allow_cors(response, origin)
        await response.send(send)

    def _limit(self, request: CollectRequest) -> None:
        if not self.limiter.enabled:
            return
        wait = self.limiter.check(self._client_address(request), self.clock())
        self.metrics.rate_limited_clients = len(self.limiter)
        if wait is not None:
            raise RateLimited(f"too many requests from this client; retry in {wait} s", retry_after=wait)

    def _client_address(self, request: CollectRequest) -> str:
        """In memory only, for the rate limit and the cookieless hash: never stored nor logged."""
        forwarded = request.headers.get("x-forwarded-for") if self.settings.trust_proxy else None
        return client_address(request.client, forwarded, self.settings.trust_proxy)

    def _secure(self, request: CollectRequest) -> bool:
        return secure_for(self.settings, request.headers.get("x-forwarded-proto", ""), request.scheme)

    def _check_origin(self, request: CollectRequest, site: Site) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None and not site.allows_origin(origin, request.own_origin()):
            raise OriginNotAllowed(
                f"origin {origin[:100]!r} is not allowed for site {site.site_id!r}: add it to the site's origins",
                field="origin",
            )
        return origin

    async def _read_body(self, request: CollectRequest) -> bytes:
        self._check_content_type(request)
        return await request.body(self.settings.max_body_bytes)

    def _check_content_type(self, request: CollectRequest) -> None:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            raise UnsupportedContentType(
                f"Content-Type {content_type or 'missing'!r}: send application/json or text/plain"
            )

    def _before_body(self, request: CollectRequest) -> None:
        """What /collect refuses before reading a body: too many requests, a wrong Content-Type."""
        self._limit(request)
        self._check_content_type(request)

    def _collect_batch(self, request: CollectRequest, body: bytes, staged: bool = False) -> CollectResponse:
        batch = decode_batch(body, self.settings.max_batch_events)
        return self._accept(request, batch, CollectResponse(204), staged)

    def _accept(self, request: CollectRequest, batch: BatchIn, response: CollectResponse,
                staged: bool = False) -> CollectResponse:
        """Every per-request check and the spool append: the one place a batch is let in. `staged`:
        the rows wait for the protocol's commit (collector/protocol.py), which sends the answer."""
        headers = request.headers
        site = self.sites.get(batch.site_id)
        origin = self._check_origin(request, site)
        now = self.clock()
        cookies = request.cookies()
        user_agent = headers.get("user-agent", "")
        decision = self.consent.decide(site, cookies, headers)
        if decision.cookies:
            visit: VisitState = VisitState.from_cookies(cookies, int(now))
        else:
            strip_identifiers(batch)
            visit = self.consent.anonymous_visit(site.site_id, self._client_address(request), user_agent, now)
        ctx = RequestContext(
            received_ms=int(now * 1000),
            ua=parse_user_agent(user_agent),
            max_age_ms=self.max_age_ms,
            session_timeout_ms=self.timeout_ms,
            consent=decision.consent,
        )
        rows = build_rows(batch, site, visit, ctx)
        if staged:
            self.writer.stage(rows)
        else:
            self.writer.accept(rows)
        secure, domain = self._secure(request), self.settings.cookie_domain
        values = (visit.set_cookie_headers(secure, domain, SESSION_COOKIE_MAX_AGE, int(now)) if decision.cookies
                  else forget_cookie_headers(cookies, secure, domain))
        for value in values:
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
