"""The collector's HTTP routes: `/t.js`, `/collect`, `/p.gif`, `/consent`.

Rule of this module: the request path does no store I/O. A request is read, validated,
enriched and appended to the spool; the writer inserts later.
"""

from __future__ import annotations

from collections.abc import Callable

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
from collector.cookies import VisitState, secure_cookies
from collector.enrich import RequestContext, build_rows
from collector.metrics import CollectorMetrics
from collector.ratelimit import RateLimiter, client_address
from collector.snippet import Snippet
from collector.useragent import parse_user_agent
from collector.validate import BatchIn, decode_batch, event_from_query
from collector.writer import EventWriter
from fidelia.errors import BodyTooLarge, FideliaError, OriginNotAllowed, RateLimited, UnsupportedContentType
from fidelia.settings import Settings
from fidelia.sites import Site, SiteRegistry

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
        self.consent = ConsentPolicy()
        exempt = frozenset(a.strip() for a in settings.rate_limit_exempt.split(",") if a.strip())
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst, exempt)

    def routes(self) -> list[Route]:
        return [
            Route("/t.js", self.snippet_js, methods=["GET", "HEAD"]),
            Route("/collect", self.collect, methods=["POST", "OPTIONS"]),
            Route("/p.gif", self.pixel, methods=["GET"]),
            Route("/consent", self.consent_choice, methods=["POST"]),
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
            self._limit(request)
            body = await self._read_body(request)
            batch = decode_batch(body, self.settings.max_batch_events)
            return self._accept(request, batch, Response(status_code=204))
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise

    async def pixel(self, request: Request) -> Response:
        try:
            self._limit(request)
            batch = event_from_query(dict(request.query_params))
            return self._accept(request, batch, Response(PIXEL, media_type="image/gif", headers=dict(NO_STORE)))
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise

    async def consent_choice(self, request: Request) -> Response:
        """The visitor grants or refuses: remember it in fid_consent; a refusal deletes the tracking cookies."""
        try:
            self._limit(request)
            choice = decode_choice(await self._read_body(request))
            site = self.sites.get(choice.site_id)
            origin = self._check_origin(request, site)
        except FideliaError as exc:
            self.metrics.rejected[exc.code] += 1
            raise
        response = Response(status_code=204, headers=dict(NO_STORE))
        secure, domain = secure_cookies(self.settings, request), self.settings.cookie_domain
        response.headers.append("set-cookie", choice_cookie_header(choice.consent, secure, domain))
        if choice.consent == "refused":
            for value in forget_cookie_headers(_cookies(request), secure, domain):
                response.headers.append("set-cookie", value)
        self.metrics.consent_choices[choice.consent] += 1
        if origin is not None:
            _allow_cors(response, origin)
        return response

    def _limit(self, request: Request) -> None:
        if not self.limiter.enabled:
            return
        forwarded = request.headers.get("x-forwarded-for") if self.settings.trust_proxy else None
        wait = self.limiter.check(client_address(request.scope.get("client"), forwarded, self.settings.trust_proxy),
                                  self.clock())
        self.metrics.rate_limited_clients = len(self.limiter)
        if wait is not None:
            raise RateLimited(f"too many requests from this client; retry in {wait} s", retry_after=wait)

    def _check_origin(self, request: Request, site: Site) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None and not site.allows_origin(origin, _own_origin(request)):
            raise OriginNotAllowed(
                f"origin {origin[:100]!r} is not allowed for site {site.site_id!r}: add it to the site's origins",
                field="origin",
            )
        return origin

    async def _read_body(self, request: Request) -> bytes:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            raise UnsupportedContentType(
                f"Content-Type {content_type or 'missing'!r}: send application/json or text/plain"
            )
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
        origin = self._check_origin(request, site)
        now = self.clock()
        cookies = _cookies(request)
        user_agent = request.headers.get("user-agent", "")
        decision = self.consent.decide(site, cookies, request.headers)
        if decision.cookies:
            visit: VisitState = VisitState.from_cookies(cookies, int(now))
        else:
            strip_identifiers(batch)
            address = client_address(request.scope.get("client"), request.headers.get("x-forwarded-for"),
                                     self.settings.trust_proxy)
            visit = self.consent.anonymous_visit(site.site_id, address, user_agent, now)
        ctx = RequestContext(
            received_ms=int(now * 1000),
            ua=parse_user_agent(user_agent),
            max_age_ms=self.max_age_ms,
            session_timeout_ms=self.timeout_ms,
            consent=decision.consent,
        )
        rows = build_rows(batch, site, visit, ctx)
        self.writer.accept(rows)
        secure, domain = secure_cookies(self.settings, request), self.settings.cookie_domain
        values = (visit.set_cookie_headers(secure, domain, SESSION_COOKIE_MAX_AGE, int(now)) if decision.cookies
                  else forget_cookie_headers(cookies, secure, domain))
        for value in values:
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

