"""Consent over real HTTP: opt-in counts without cookies or identifiers, a refusal deletes the
cookies, GPC/DNT count as a refusal where the site says so, and the cookieless hash cannot link days."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.consent import DailySalt, truncate_address
from fidelia.settings import Settings
from tests.conftest import FakeClock, LiveServer, events_of

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def consent_settings(folder: Path, site_id: str, consent: str, honour_gpc: bool = False) -> Settings:
    sites = folder / "sites.toml"
    sites.write_text(f'[[site]]\nid = "{site_id}"\nconsent = "{consent}"\nhonour_gpc = {str(honour_gpc).lower()}\n'
                     'origins = ["https://shop.example"]\n')
    env = {"FIDELIA_DATA_DIR": str(folder), "FIDELIA_SITES_FILE": str(sites), "FIDELIA_FLUSH_INTERVAL": "0.2"}
    return Settings.from_env(env)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_764_590_400.0)  # 2025-12-01 12:00 UTC: the tests move it by whole days


def serve(store, settings: Settings, clock: FakeClock) -> Iterator[LiveServer]:
    server = LiveServer(settings, store, clock=clock).start()
    yield server
    server.stop()


@pytest.fixture
def opt_in(store, site_id: str, tmp_path: Path, clock: FakeClock) -> Iterator[LiveServer]:
    yield from serve(store, consent_settings(tmp_path, site_id, "opt-in"), clock)


@pytest.fixture
def opt_out(store, site_id: str, tmp_path: Path, clock: FakeClock) -> Iterator[LiveServer]:
    yield from serve(store, consent_settings(tmp_path, site_id, "opt-out"), clock)


@pytest.fixture
def gpc_site(store, site_id: str, tmp_path: Path, clock: FakeClock) -> Iterator[LiveServer]:
    yield from serve(store, consent_settings(tmp_path, site_id, "opt-out", honour_gpc=True), clock)


def post(client: httpx.Client, site_id: str, path: str = "/a", **extra: object) -> httpx.Response:
    event = {"type": "pageview", "url": f"https://shop.example{path}", **extra}
    return client.post("/collect", json={"site_id": site_id, "events": [event]})


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie value, lowercased."""
    return {h.split("=", 1)[0]: h.lower() for h in response.headers.get_list("set-cookie")}


def test_opt_in_before_consent_sets_no_cookie_and_stores_no_identifier(opt_in: LiveServer, site_id: str,
                                                                       store, clock: FakeClock) -> None:
    with opt_in.client() as client:
        first = post(client, site_id, "/a")
        second = post(client, site_id, "/b", type="identify", customer_id="c-42")
        clock.advance(86_400)
        next_day = post(client, site_id, "/c")
    with opt_in.client(headers={"User-Agent": CHROME}) as other:
        other_device = post(other, site_id, "/d")
    for response in (first, second, next_day, other_device):
        assert response.status_code == 204
        assert response.headers.get_list("set-cookie") == []
    opt_in.flush()
    rows = {r["path"]: r for r in events_of(store, site_id, "path, visitor_id, session_id, customer_id, consent")}
    assert {r["consent"] for r in rows.values()} == {"anonymous"}
    assert rows["/b"]["customer_id"] == ""  # the shop's id is not kept either before consent
    assert rows["/a"]["visitor_id"] == rows["/b"]["visitor_id"]  # the same device counts once in a day
    assert rows["/a"]["session_id"] == rows["/b"]["session_id"]
    assert rows["/c"]["visitor_id"] != rows["/a"]["visitor_id"]  # a new day, a new salt: days cannot be linked
    assert rows["/d"]["visitor_id"] != rows["/a"]["visitor_id"]
    assert len(rows["/a"]["visitor_id"]) == 32


def test_opt_in_grant_then_cookies_and_granted_events(opt_in: LiveServer, site_id: str, store) -> None:
    with opt_in.client() as client:
        granted = client.post("/consent", content=f'{{"site_id": "{site_id}", "consent": "granted"}}',
                              headers={"Content-Type": "text/plain"})
        assert granted.status_code == 204
        choice = set_cookies(granted)["fid_consent"]
        assert choice.startswith("fid_consent=granted;") and "httponly" in choice and "max-age=34214400" in choice
        first = post(client, site_id, "/a")
        second = post(client, site_id, "/b")
    assert {"fid_vid", "fid_sid", "fid_vt"} <= set(set_cookies(first))
    assert "fid_vid" not in set_cookies(second)  # same visit: the id is only refreshed per visit
    opt_in.flush()
    rows = events_of(store, site_id, "visitor_id, consent")
    assert [r["consent"] for r in rows] == ["granted", "granted"]
    assert rows[0]["visitor_id"] == rows[1]["visitor_id"] == client.cookies.get("fid_vid")


def test_refusal_deletes_the_cookies_and_no_identifier_is_kept_after(opt_out: LiveServer, site_id: str,
                                                                     store) -> None:
    with opt_out.client() as client:
        first = post(client, site_id, "/before")
        assert set(set_cookies(first)) == {"fid_vid", "fid_sid", "fid_vt"}
        old_vid = client.cookies.get("fid_vid")
        refused = client.post("/consent", json={"site_id": site_id, "consent": "refused"})
        assert refused.status_code == 204
        deleted = set_cookies(refused)
        for name in ("fid_vid", "fid_sid", "fid_vt"):
            assert deleted[name].startswith(f"{name}=;") and "max-age=0" in deleted[name]
        assert deleted["fid_consent"].startswith("fid_consent=refused;")
        assert "fid_vid" not in client.cookies and client.cookies.get("fid_consent") == "refused"
        after = post(client, site_id, "/after", type="identify", customer_id="c-7")
        assert after.status_code == 204 and after.headers.get_list("set-cookie") == []
        # a browser that kept an old id anyway gets it deleted again, and it is not used
        stale = client.post("/collect", json={"site_id": site_id, "events": [
            {"type": "pageview", "url": "https://shop.example/stale"}]},
            headers={"Cookie": f"fid_vid={old_vid}; fid_consent=refused"})
        assert "max-age=0" in set_cookies(stale)["fid_vid"]
    opt_out.flush()
    rows = {r["path"]: r for r in events_of(store, site_id, "path, visitor_id, customer_id, consent")}
    assert rows["/before"]["consent"] == "implied" and rows["/before"]["visitor_id"] == old_vid
    for path in ("/after", "/stale"):
        assert rows[path]["consent"] == "refused"
        assert rows[path]["visitor_id"] != old_vid and rows[path]["customer_id"] == ""


def test_gpc_and_dnt_are_a_refusal_where_the_site_honours_them(gpc_site: LiveServer, site_id: str, store) -> None:
    with gpc_site.client() as client:
        for header in ({"Sec-GPC": "1"}, {"DNT": "1"}):
            response = client.post("/collect", json={"site_id": site_id, "events": [
                {"type": "pageview", "url": "https://shop.example/gpc"}]},
                headers={**header, "Cookie": "fid_consent=granted"})  # GPC wins over an earlier grant
            assert response.status_code == 204 and response.headers.get_list("set-cookie") == []
        plain = post(client, site_id, "/plain")
        assert "fid_vid" in set_cookies(plain)
    gpc_site.flush()
    assert sorted(r["consent"] for r in events_of(store, site_id, "consent")) == ["implied", "refused", "refused"]


def test_gpc_is_ignored_where_the_site_does_not_ask(opt_out: LiveServer, site_id: str) -> None:
    with opt_out.client() as client:
        response = client.post("/collect", json={"site_id": site_id, "events": [
            {"type": "pageview", "url": "https://shop.example/x"}]}, headers={"Sec-GPC": "1"})
    assert "fid_vid" in set_cookies(response)


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    ('{"site_id": "SITE", "consent": "maybe"}', "text/plain", 422, "invalid_event"),
    ('{"site_id": "SITE"}', "application/json", 422, "invalid_event"),
    ('{"site_id": "nope", "consent": "granted"}', "text/plain", 404, "unknown_site"),
    ("{not json", "text/plain", 400, "invalid_json"),
    ('{"site_id": "SITE", "consent": "granted"}', "application/x-www-form-urlencoded", 415,
     "unsupported_content_type"),
])
def test_bad_consent_bodies_are_refused_and_set_nothing(opt_out: LiveServer, site_id: str, body: str,
                                                        content_type: str, status: int, code: str) -> None:
    with opt_out.client() as client:
        response = client.post("/consent", content=body.replace("SITE", site_id),
                               headers={"Content-Type": content_type})
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert response.headers.get_list("set-cookie") == []


def test_consent_from_a_foreign_origin_is_refused(opt_out: LiveServer, site_id: str) -> None:
    with opt_out.client() as client:
        response = client.post("/consent", json={"site_id": site_id, "consent": "refused"},
                               headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and response.headers.get_list("set-cookie") == []


def test_daily_salt_is_replaced_and_not_kept() -> None:
    salt = DailySalt()
    monday = salt.key(1_764_590_400.0)
    assert salt.key(1_764_590_400.0 + 3600) == monday
    tuesday = salt.key(1_764_590_400.0 + 86_400)
    assert tuesday != monday and monday not in vars(salt).values()


def test_addresses_are_truncated_before_hashing() -> None:
    assert truncate_address("203.0.113.77") == "203.0.113.0"
    assert truncate_address("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert truncate_address("::ffff:203.0.113.77") == "203.0.113.0"
    assert truncate_address("not-an-ip") == ""
