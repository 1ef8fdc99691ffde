"""`/dashboard`: the merchandiser reports as a web page with charts, behind a sign-in.

The page is a server-rendered frame (period picker, sites, languages, one section per report
with its table headers); its script (static/dashboard.js) fetches each report from
`/dashboard/api/reports/{name}` with the session cookie and draws it with the vendored Chart.js.
Every response carries a strict Content-Security-Policy: no inline script or style anywhere,
and the script writes data with `textContent` only. See docs/dashboard.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from collector.cookies import secure_cookies
from fidelia.auth import ApiKeys, Forbidden, Unauthorized
from fidelia.dashboard.labels import DEFAULT_LANG, LABELS, LANGS, REPORT_VIEWS, VALUE_LABELS, in_lang
from fidelia.dashboard.session import SESSION_COOKIE, SESSION_SECONDS, DashboardKeys, Session, SessionSigner
from fidelia.errors import FideliaError, UnknownSite
from fidelia.forms import read_form
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry
from fidelia.static_assets import load_folder
from fidelia.store import Store
from profiles.report_format import to_csv
from profiles.reports import (
    BUCKETS,
    DEFAULT_BUCKET,
    REPORTS,
    InvalidReportParameter,
    ReportParams,
    UnknownReport,
    parse_params,
    run_report,
)

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
LANG_COOKIE = "fidelia_lang"
LANG_COOKIE_MAX_AGE = 365 * 86400
STATIC_DIR = Path(__file__).with_name("static")
MAX_FORM_BYTES = 4096
QUICK_RANGES = (7, 30, 90, 365)
# The keys the script needs in the page's language (the rest is rendered server-side).
SCRIPT_LABELS = ("no_data", "load_error", "others", "loading")

Handler = Callable[[Request], Awaitable[Response]]


def json_errors(handler: Handler) -> Handler:
    """A FideliaError becomes its JSON answer here, inside the route, so it gets the security headers too."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except FideliaError as error:
            return JSONResponse(error.to_json(), status_code=error.status)

    return wrapper


class SecuredRoute(Route):
    """A route whose every answer (405 included) carries the security headers and, unless it says
    otherwise, stays out of every cache."""

    def __init__(self, path: str, endpoint: Handler, **kwargs: Any) -> None:
        super().__init__(path, json_errors(endpoint), **kwargs)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        if self.methods and scope["method"] not in self.methods:  # answered here: Route would raise it
            allow = {"Allow": ", ".join(sorted(self.methods))}
            await PlainTextResponse("method not allowed", status_code=405, headers=allow)(scope, receive, send_secured)
        else:
            await self.app(scope, receive, send_secured)


class DashboardPages:
    """The dashboard's routes over the configured sites, the store and the keys allowed in."""

    def __init__(self, settings: Settings, sites: SiteRegistry, store: Store, keys: ApiKeys,
                 clock: Callable[[], float], demo: bool = False) -> None:
        self.settings = settings
        self.sites = sites
        self.store = store
        self.clock = clock
        self.keys = DashboardKeys(keys, demo)
        self.sessions = SessionSigner(settings.secret_key, self.keys, clock)
        self.env = Environment(loader=PackageLoader("fidelia.dashboard", "templates"), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.assets = load_folder(STATIC_DIR)

    def routes(self) -> list[Route]:
        return [
            SecuredRoute("/dashboard", self.page, name="dashboard"),
            SecuredRoute("/dashboard/login", self.login, methods=["GET", "POST"], name="dashboard_login"),
            SecuredRoute("/dashboard/logout", self.logout, methods=["POST"], name="dashboard_logout"),
            SecuredRoute("/dashboard/api/reports/{name}", self.report, name="dashboard_report"),
            SecuredRoute("/dashboard/static/{file}", self.static, name="dashboard_static"),
            SecuredRoute("/dashboard/{rest:path}", self.unknown),
        ]

    # --- pages ----------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        if self.session_of(request) is None:
            return self.to_login(request, expired=SESSION_COOKIE in request.cookies)
        lang, query, today = lang_of(request), request.query_params, self.today()
        status, problem = 200, None
        try:
            site_id = self.sites.get(query.get("site_id") or self.default_site()).site_id
            params = parse_params(site_id, query.get("from"), query.get("to"), query.get("by"), today)
            by = query.get("by") or ""
        except (InvalidReportParameter, UnknownSite) as error:
            status, problem = 400, error
            params, by = parse_params(self.default_site(), None, None, None, today), ""
        period = {"site_id": params.site_id, "from": first_day(params).isoformat(),
                  "to": last_day(params).isoformat(), "by": by}
        return self.render(request, "dashboard.html", lang, status, period=period, problem=problem,
                           sites=list(self.sites), views=REPORT_VIEWS, buckets=BUCKETS,
                           quick=self.quick_ranges(period, today), lang_links=lang_links(request),
                           api_base=request.url_for("dashboard_report", name="-").path.removesuffix("-"),
                           csv={v.name: self.report_url(request, v.name, period, "csv") for v in REPORT_VIEWS},
                           script_labels={k: LABELS[k][LANGS.index(lang)] for k in SCRIPT_LABELS},
                           value_labels=in_lang(VALUE_LABELS, lang))

    async def login(self, request: Request) -> Response:
        lang = lang_of(request)
        if request.method == "GET":
            if self.session_of(request) is not None:
                return RedirectResponse(request.url_for("dashboard"), status_code=303)
            return self.login_page(request, lang, expired="expired" in request.query_params)
        check_same_origin(request)
        presented = (await read_form(request, MAX_FORM_BYTES)).get("key", "").strip()
        key = self.keys.match(presented) if presented else None
        if key is None:
            return self.login_page(request, lang, status=401, refused=True)
        response = RedirectResponse(request.url_for("dashboard"), status_code=303)
        response.set_cookie(SESSION_COOKIE, self.sessions.issue(key), max_age=SESSION_SECONDS, path="/dashboard",
                            httponly=True, samesite="strict", secure=self.secure(request))
        return response

    async def logout(self, request: Request) -> Response:
        check_same_origin(request)
        session = self.session_of(request)
        if session is not None:
            self.sessions.revoke(session)
        response = RedirectResponse(request.url_for("dashboard_login"), status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/dashboard", httponly=True, samesite="strict",
                               secure=self.secure(request))
        return response

    def login_page(self, request: Request, lang: str, status: int = 200, refused: bool = False,
                   expired: bool = False) -> Response:
        return self.render(request, "login.html", lang, status, refused=refused, expired=expired,
                           no_keys=not self.keys.keys, demo=self.keys.demo_key is not None,
                           lang_links=lang_links(request))

    # --- data -----------------------------------------------------------------------------------

    async def report(self, request: Request) -> Response:
        if self.session_of(request) is None:
            raise Unauthorized("sign in to the dashboard first, at /dashboard/login")
        name = request.path_params["name"]
        if name not in REPORTS:
            raise UnknownReport(f"no report named {name[:40]!r}; reports: {', '.join(REPORTS)}", field="name")
        query = request.query_params
        fmt = query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise InvalidReportParameter("format must be json or csv", field="format")
        site = self.sites.get(query.get("site_id") or self.default_site())
        params = parse_params(site.site_id, query.get("from"), query.get("to"), query.get("by"), self.today(),
                              self.settings.attrition_days, DEFAULT_BUCKET.get(name))
        report = await asyncio.to_thread(run_report, self.store, name, params)
        if fmt == "csv":
            filename = f"{name}_{site.site_id}_{first_day(params)}_{last_day(params)}.csv"
            return Response(to_csv(report.rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        return JSONResponse(report.to_json())

    async def static(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["file"])
        if asset is None:
            return PlainTextResponse("not found", status_code=404)
        headers = {"ETag": asset.etag, "Cache-Control": "public, max-age=31536000, immutable"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def unknown(self, request: Request) -> Response:
        if request.path_params["rest"] == "":  # `/dashboard/`
            return RedirectResponse(request.url_for("dashboard"), status_code=307)
        return PlainTextResponse("not found", status_code=404)

    # --- helpers --------------------------------------------------------------------------------

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.check(request.cookies.get(SESSION_COOKIE))

    def to_login(self, request: Request, expired: bool) -> Response:
        url = request.url_for("dashboard_login")
        response = RedirectResponse(url.include_query_params(expired=1) if expired else url, status_code=303)
        if expired:
            response.delete_cookie(SESSION_COOKIE, path="/dashboard", httponly=True, samesite="strict",
                                   secure=self.secure(request))
        return response

    def render(self, request: Request, template: str, lang: str, status: int = 200, **context: Any) -> Response:
        page = {"lang": lang, "t": in_lang(LABELS, lang), "i": LANGS.index(lang),
                "url": lambda route, **params: request.url_for(route, **params).path,
                "static": self.static_url}
        response = HTMLResponse(self.env.get_template(template).render(**page, **context), status_code=status)
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, path="/dashboard", httponly=True,
                                samesite="strict", secure=self.secure(request))
        return response

    def static_url(self, file: str) -> str:
        return f"/dashboard/static/{file}?v={self.assets[file].etag.strip(chr(34))}"

    def report_url(self, request: Request, name: str, period: dict[str, str], fmt: str) -> str:
        query = {k: v for k, v in period.items() if v} | {"format": fmt}
        return request.url_for("dashboard_report", name=name).path + "?" + urlencode(query)

    def quick_ranges(self, period: dict[str, str], today: date) -> list[tuple[int, str]]:
        """The last 7, 30, 90, 365 days up to today, as links that keep the site and the bucket."""
        links = []
        for days in QUICK_RANGES:
            query = {"site_id": period["site_id"], "from": (today - timedelta(days=days - 1)).isoformat(),
                     "to": today.isoformat(), "by": period["by"]}
            links.append((days, "?" + urlencode({k: v for k, v in query.items() if v})))
        return links

    def default_site(self) -> str:
        return next(iter(self.sites)).site_id

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), UTC).date()

    def secure(self, request: Request) -> bool:
        return secure_cookies(self.settings, request)


def first_day(params: ReportParams) -> date:
    return params.start.date()


def last_day(params: ReportParams) -> date:
    return (params.end - timedelta(days=1)).date()


def lang_of(request: Request) -> str:
    """`?lang=` wins and is remembered in a cookie; French by default."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    return DEFAULT_LANG


def lang_links(request: Request) -> dict[str, str]:
    """The current page in each language: a query-only link that keeps the other parameters."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "expired")]
    return {code: "?" + urlencode([*params, ("lang", code)]) for code in LANGS}


def check_same_origin(request: Request) -> None:
    """A form post from another site (login or logout forced on the user) is refused. Browsers send
    Origin on every POST; clients without it (scripts, tests) hold no cookie to abuse."""
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
            origin is not None and urlsplit(origin).netloc != request.headers.get("host")):
        raise Forbidden("the dashboard accepts forms from its own pages only")


def dashboard_routes(settings: Settings, sites: SiteRegistry, store: Store, keys: ApiKeys,
                     clock: Callable[[], float], demo: bool = False) -> list[Route]:
    """The dashboard's routes, mounted by `build_app`; `demo` makes a sign-in key when none is configured."""
    return DashboardPages(settings, sites, store, keys, clock, demo).routes()
