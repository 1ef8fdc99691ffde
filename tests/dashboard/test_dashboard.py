"""The dashboard over real HTTP on a real store: sign-in, session cookie, security headers, data routes.

The browser side (charts drawn, escaping, period picker, languages) is in
tests/browser/test_dashboard_browser.py; here every answer is read as bytes and headers.
"""

from __future__ import annotations

import html
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fidelia.auth import ApiKeys, new_key
from fidelia.dashboard import routes
from fidelia.dashboard.labels import REPORT_VIEWS
from fidelia.dashboard.session import SESSION_COOKIE, SESSION_SECONDS, DashboardKeys, SessionSigner
from fidelia.errors import InvalidSetting
from fidelia.settings import Settings
from fidelia.store import Store
from profiles.reports import DEFAULT_BUCKET, parse_params, run_report
from tests.conftest import FakeClock, LiveServer, make_settings
from tests.profiles.events import Events

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
JUNE = {"from": "2026-06-01", "to": "2026-06-30"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SCRIPT_RUBRIQUE = "<script>alert(1)</script>"
REFUSED = "Clé refusée"
API = "/dashboard/api/reports/"


def t(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00+00:00")


@pytest.fixture(scope="module")
def shop(store: Store) -> str:
    """A few visitors in June 2026 on a fresh site: two rubriques (one named like a script), two orders."""
    site = "dash" + secrets.token_hex(5)
    ev = Events(site)
    ev.add("v1", t("2026-06-10"), rubrique="chaussures")
    ev.add("v1", t("2026-06-10", 10, 5), "purchase", order_id="o1", revenue=50.0,
           items=[{"product_id": "p1", "rubrique": "chaussures", "price": 50.0, "quantity": 1}])
    ev.add("v2", t("2026-06-12"), rubrique="chaussures")
    ev.add("v2", t("2026-06-12", 10, 3), rubrique=SCRIPT_RUBRIQUE)
    ev.add("v3", t("2026-06-20"), rubrique="sacs")
    ev.add("v3", t("2026-06-20", 10, 2), "purchase", order_id="o2", revenue=60.0,
           items=[{"product_id": "p2", "rubrique": "sacs", "price": 30.0, "quantity": 2}])
    ev.add("v3", t("2026-06-21"), "survey", satisfaction=4, nps=9)
    ev.add("v3", t("2026-06-22"), "complaint")
    ev.insert(store)
    return site


class Keys:
    def __init__(self) -> None:
        self.reports, reports_entry = new_key(["reports"])
        self.profiles, profiles_entry = new_key(["profiles"])
        self.admin, admin_entry = new_key(["admin"])
        self.entries = ",".join([reports_entry, profiles_entry, admin_entry])


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.timestamp())


@pytest.fixture
def settings(tmp_path: Path, shop: str, keys: Keys) -> Settings:
    return make_settings(tmp_path, [shop, "dash-other"], api_keys=keys.entries)


@pytest.fixture
def server(store: Store, settings: Settings, clock: FakeClock) -> Iterator[LiveServer]:
    live = LiveServer(settings, store, clock=clock).start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def login(client: httpx.Client, key: str) -> httpx.Response:
    return client.post("/dashboard/login", data={"key": key})


def session_cookie(response: httpx.Response) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")]
    return header


def with_cookie(server: LiveServer, value: str) -> httpx.Client:
    """A client without a cookie jar that presents exactly this session cookie."""
    return server.client(headers={"Cookie": f"{SESSION_COOKIE}={value}"})


def assert_secured(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def assert_no_inline_code(html: str) -> None:
    """The CSP forbids inline script and style: the HTML must not need them."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\sstyle\s*=", html) and "<style" not in html, "inline style"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"


def test_dashboard_without_session_redirects_and_api_says_401(client: httpx.Client) -> None:
    page = client.get("/dashboard", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].endswith("/dashboard/login")
    assert_secured(page)
    data = client.get(API + "top-rubriques", params=JUNE)
    assert data.status_code == 401 and data.json()["error"]["code"] == "unauthorized"
    assert_secured(data)
    assert client.get("/dashboard/", follow_redirects=True).status_code == 200  # → /dashboard → login form
    for other in (client.post("/dashboard"), client.get("/dashboard/logout"), client.get("/dashboard/nope")):
        assert other.status_code in (404, 405)
        assert_secured(other)


def test_login_page_is_a_password_form_under_a_strict_csp(client: httpx.Client) -> None:
    page = client.get("/dashboard/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'type="password"' in page.text and 'name="key"' in page.text
    assert_secured(page)
    assert page.headers["cache-control"] == "no-store"
    assert_no_inline_code(page.text)


def test_wrong_key_and_profiles_key_are_refused_alike(client: httpx.Client, keys: Keys) -> None:
    wrong = login(client, "fk_" + secrets.token_urlsafe(32))
    profiles_only = login(client, keys.profiles)
    empty = login(client, "")
    for refused in (wrong, profiles_only, empty):
        assert refused.status_code == 401 and REFUSED in refused.text
        assert not refused.headers.get_list("set-cookie")
        assert_secured(refused)
    # Nothing tells a key that exists from one that does not.
    assert wrong.text == profiles_only.text
    assert client.get(API + "visitors").status_code == 401


def test_reports_key_opens_a_strict_http_only_session(server: LiveServer, client: httpx.Client, keys: Keys,
                                                      shop: str) -> None:
    ok = login(client, keys.reports)
    assert ok.status_code == 303 and ok.headers["location"].endswith("/dashboard")
    cookie = session_cookie(ok).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert f"max-age={SESSION_SECONDS}" in cookie and "secure" not in cookie  # plain http here
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert_secured(page)
    assert_no_inline_code(page.text)
    assert {f'data-report="{view.name}"' for view in REPORT_VIEWS} <= set(re.findall(r'data-report="[^"]+"', page.text))
    assert f'data-site="{shop}"' in page.text and 'data-from="2026-06-02"' in page.text  # last 30 days
    assert "<select name=\"site_id\"" in page.text  # two sites configured: a site picker
    assert client.get(API + "visitors", params=JUNE).status_code == 200
    with server.client() as admin:
        assert login(admin, keys.admin).status_code == 303 and admin.get("/dashboard").status_code == 200


def test_tampered_cookie_is_refused(server: LiveServer, client: httpx.Client, keys: Keys) -> None:
    assert login(client, keys.reports).status_code == 303
    value = client.cookies[SESSION_COOKIE]
    expires, nonce, tag, signature = value.split(".")
    forged = [
        f"{int(expires) + 86400}.{nonce}.{tag}.{signature}",  # longer life, old signature
        f"{expires}.{nonce}.{tag}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        f"{expires}.{nonce}.{'0' * len(tag)}.{signature}",
        "garbage", "",
    ]
    for bad in forged:
        with with_cookie(server, bad) as other:
            assert other.get(API + "visitors", params=JUNE).status_code == 401, bad
            page = other.get("/dashboard", follow_redirects=False)
            assert page.status_code == 303 and "/dashboard/login" in page.headers["location"]
    with with_cookie(server, value) as same:
        assert same.get(API + "visitors", params=JUNE).status_code == 200


def test_expired_session_is_refused(client: httpx.Client, keys: Keys, clock: FakeClock) -> None:
    assert login(client, keys.reports).status_code == 303
    clock.advance(SESSION_SECONDS - 60)
    assert client.get(API + "visitors", params=JUNE).status_code == 200
    clock.advance(61)
    assert client.get(API + "visitors", params=JUNE).status_code == 401
    page = client.get("/dashboard", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].endswith("/dashboard/login?expired=1")


def test_api_answers_what_run_report_answers(client: httpx.Client, keys: Keys, store: Store, shop: str,
                                             settings: Settings) -> None:
    login(client, keys.reports)
    for view in REPORT_VIEWS:
        for query in ({**JUNE, "site_id": shop}, {**JUNE, "by": "week"}, {}):
            got = client.get(API + view.name, params=query)
            assert got.status_code == 200, (view.name, got.text)
            assert_secured(got)
            params = parse_params(shop, query.get("from"), query.get("to"), query.get("by"), TODAY,
                                  settings.attrition_days, DEFAULT_BUCKET.get(view.name))
            expected = json.loads(json.dumps(run_report(store, view.name, params).to_json()))
            assert unordered(got.json()) == unordered(expected), view.name
    june = client.get(API + "top-rubriques", params=JUNE).json()
    assert {r["rubrique"] for r in june["rows"]} == {"chaussures", "sacs", SCRIPT_RUBRIQUE}


def unordered(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its sections' rows in a fixed order: lifecycle's transitions tie on `people`
    and come in any order among equals."""
    return {k: sorted(v, key=json.dumps) if isinstance(v, list) and k != "rows" else v for k, v in report.items()}


def test_csv_download(client: httpx.Client, keys: Keys, store: Store, shop: str) -> None:
    login(client, keys.reports)
    got = client.get(API + "top-rubriques", params={**JUNE, "format": "csv"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == (
        f'attachment; filename="top-rubriques_{shop}_2026-06-01_2026-06-30.csv"')
    assert_secured(got)
    rows = run_report(store, "top-rubriques", parse_params(shop, JUNE["from"], JUNE["to"], None, TODAY)).rows
    lines = got.text.splitlines()
    assert lines[0] == ",".join(rows[0]) and lines[0].startswith("rubrique,pageviews,")
    assert len(lines) == 1 + len(rows) == 4
    page = client.get("/dashboard", params=JUNE)
    assert f'href="{API}top-rubriques?site_id={shop}&amp;from=2026-06-01&amp;to=2026-06-30&amp;format=csv"' in page.text


@pytest.mark.parametrize("query, status, field", [
    ({"from": "June"}, 400, "from"),
    ({"to": "2026-02-30"}, 400, "to"),
    ({"from": "2026-06-30", "to": "2026-06-01"}, 400, "from"),
    ({"by": "year"}, 400, "by"),
    ({"format": "xml"}, 400, "format"),
    ({"site_id": "nowhere"}, 404, "site_id"),
])
def test_bad_parameter_is_named(client: httpx.Client, keys: Keys, query: dict[str, str], status: int,
                                field: str) -> None:
    login(client, keys.reports)
    got = client.get(API + "visitors", params=query)
    assert got.status_code == status and got.json()["error"]["field"] == field
    assert_secured(got)


def test_bad_parameter_on_the_page_and_unknown_report(client: httpx.Client, keys: Keys) -> None:
    login(client, keys.reports)
    page = client.get("/dashboard", params={"from": "<b>June</b>"})
    assert page.status_code == 400 and 'data-problem="from"' in page.text
    assert "<b>June</b>" not in page.text and "&lt;b&gt;June&lt;/b&gt;" in page.text  # escaped
    unknown = client.get(API + "top-everything")
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "name"


def test_logout_clears_and_revokes_the_session(server: LiveServer, client: httpx.Client, keys: Keys) -> None:
    login(client, keys.reports)
    value = client.cookies[SESSION_COOKIE]
    out = client.post("/dashboard/logout")
    assert out.status_code == 303 and out.headers["location"].endswith("/dashboard/login")
    cleared = session_cookie(out).lower()
    assert 'fidelia_dashboard="";' in cleared or "max-age=0" in cleared
    assert client.get(API + "visitors").status_code == 401
    with with_cookie(server, value) as replay:  # the old cookie, kept by an attacker: revoked
        assert replay.get(API + "visitors").status_code == 401


def test_forms_from_another_site_are_refused(client: httpx.Client, keys: Keys) -> None:
    forged = client.post("/dashboard/login", data={"key": keys.reports}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and not forged.headers.get_list("set-cookie")
    own = client.post("/dashboard/login", data={"key": keys.reports}, headers={"Origin": str(client.base_url)})
    assert own.status_code == 303


def test_language_switch_is_remembered(server: LiveServer, client: httpx.Client, keys: Keys) -> None:
    login(client, keys.reports)
    french = html.unescape(client.get("/dashboard").text)
    assert '<html lang="fr">' in french and "Panier moyen" in french and "Taux d'attrition" in french
    assert "Fréquence d'achat" in french and "Taux de réclamation" in french and ">NPS<" in french
    english = client.get("/dashboard", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Average basket" in english.text
    assert "httponly" in english.headers["set-cookie"].lower()
    assert "Average basket" in client.get("/dashboard").text  # the cookie keeps it
    with server.client() as signed_out:
        assert "Sign in" in signed_out.get("/dashboard/login", params={"lang": "en"}).text


def test_static_files_are_served_with_an_etag_and_a_long_cache(client: httpx.Client) -> None:
    chart = client.get("/dashboard/static/chart.umd.min.js")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("text/javascript")
    assert "Chart.js v4" in chart.text[:200]
    assert "max-age=31536000" in chart.headers["cache-control"]
    assert client.get("/dashboard/static/chart.umd.min.js",
                      headers={"If-None-Match": chart.headers["etag"]}).status_code == 304
    assert "MIT License" in client.get("/dashboard/static/chart.js.LICENSE.md").text
    assert client.get("/dashboard/static/dashboard.js").status_code == 200
    assert client.get("/dashboard/static/../routes.py").status_code == 404
    assert client.get("/dashboard/static/nope.js").status_code == 404


def test_reports_run_off_the_event_loop(server: LiveServer, client: httpx.Client, keys: Keys,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow report must not stall the server: the query runs in a worker thread."""
    def slow_report(*args: Any) -> Any:
        time.sleep(1.5)
        return run_report(*args)

    monkeypatch.setattr(routes, "run_report", slow_report)
    login(client, keys.reports)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.get, API + "visitors", params=JUNE)
        time.sleep(0.3)
        started = time.perf_counter()
        with server.client() as other:
            assert other.get("/healthz").status_code == 200
            assert other.get("/dashboard/login").status_code == 200
        assert time.perf_counter() - started < 1.0
        assert pending.result().status_code == 200


def test_secret_key_keeps_sessions_across_restarts(keys: Keys, clock: FakeClock) -> None:
    allowed = DashboardKeys(ApiKeys.parse(keys.entries))
    [key] = [k for k in allowed.keys if "reports" in k.scopes]
    secret = secrets.token_urlsafe(32)
    cookie = SessionSigner(secret, allowed, clock).issue(key)
    assert SessionSigner(secret, allowed, clock).check(cookie) is not None  # a restarted server, same secret
    assert SessionSigner("", allowed, clock).check(cookie) is None  # a random secret per process
    assert SessionSigner(secret, DashboardKeys(ApiKeys.parse(new_key(["reports"])[1])), clock).check(cookie) is None
    with pytest.raises(InvalidSetting, match="FIDELIA_SECRET_KEY"):
        Settings.from_env({"FIDELIA_SECRET_KEY": "short"})


def test_demo_without_keys_makes_one_and_logs_it(store: Store, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path)})
    with caplog.at_level(logging.WARNING, logger="fidelia.dashboard.session"):
        server = LiveServer(settings, store, demo=True).start()
    try:
        [line] = [r.getMessage() for r in caplog.records if "dashboard: sign in with key" in r.getMessage()]
        key = line.rsplit(" ", 1)[1]
        assert key.startswith("fk_")
        with server.client() as c:
            assert "fk_…" in c.get("/dashboard/login").text  # the page says where the key is
            assert login(c, key).status_code == 303 and c.get("/dashboard").status_code == 200
            assert c.get("/v1/reports/visitors").status_code == 401  # only the dashboard takes it
    finally:
        server.stop()


def test_no_demo_key_outside_the_demo(store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path)})
    with caplog.at_level(logging.WARNING, logger="fidelia.dashboard.session"):
        server = LiveServer(settings, store).start()
    try:
        assert not [r for r in caplog.records if "sign in with key" in r.getMessage()]
        with server.client() as c:
            page = c.get("/dashboard/login")
            assert "fidelia keys new --scopes reports" in page.text
            assert login(c, "fk_anything").status_code == 401
    finally:
        server.stop()
