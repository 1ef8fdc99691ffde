"""`/collect`, `/p.gif` and `/t.js` over real HTTP into real embedded ClickHouse."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    FIREFOX,
    FakeClock,
    LiveServer,
    count_events,
    events_of,
    make_settings,
)

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def batch(site_id: str, *events: dict) -> dict:
    return {"site_id": site_id, "events": list(events)}


def pageview(path: str = "/r/chaussures/escarpin", **extra: object) -> dict:
    return {"type": "pageview", "url": "https://shop.example" + path, **extra}


def jar_of(response: httpx.Response) -> dict[str, str]:
    return dict(h.split(";", 1)[0].split("=", 1) for h in response.headers.get_list("set-cookie"))


def test_pageview_is_stored_with_visitor_session_ua_and_rubrique(live: LiveServer, site_id: str, store) -> None:
    with live.client(headers={"User-Agent": IPHONE}) as client:
        response = client.post("/collect", content=json.dumps(batch(site_id, pageview(
            "/r/chaussures/escarpin?utm_source=newsletter&utm_medium=email&utm_campaign=soldes",
            referrer="https://www.google.com/"))), headers={"Content-Type": "text/plain"})
    assert response.status_code == 204
    cookies = jar_of(response)
    live.flush()
    [row] = events_of(store, site_id)
    assert row["visitor_id"] == cookies["fid_vid"] and len(row["visitor_id"]) == 32
    assert cookies["fid_sid"].startswith(row["session_id"] + ".")
    assert row["event_type"] == "pageview"
    assert row["rubrique"] == "chaussures"  # from the site's URL rule: the page declared none
    assert row["path"] == "/r/chaussures/escarpin"
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("newsletter", "email", "soldes")
    assert row["referrer"] == "https://www.google.com/"
    assert (row["browser"], row["os"], row["device_type"], row["is_bot"]) == ("Mobile Safari", "iOS", "mobile", 0)
    assert row["consent"] == "implied"  # opt-out site, no choice made: consent implied


def test_declared_rubrique_wins_over_url_rule(live: LiveServer, site_id: str, store) -> None:
    with live.client() as client:
        client.post("/collect", json=batch(site_id, pageview("/r/chaussures", rubrique="soldes")))
    live.flush()
    assert [e["rubrique"] for e in events_of(store, site_id)] == ["soldes"]


def test_cookie_flags(live: LiveServer, site_id: str) -> None:
    with live.client() as client:
        response = client.post("/collect", json=batch(site_id, pageview()))
    by_name = {h.split("=", 1)[0]: h.lower() for h in response.headers.get_list("set-cookie")}
    assert set(by_name) == {"fid_vid", "fid_vt", "fid_sid"}
    for header in by_name.values():
        assert "httponly" in header and "samesite=lax" in header and "path=/" in header
        assert "secure" not in header  # plain HTTP, cookie_secure=auto
    assert "max-age=34214400" in by_name["fid_vid"]  # 396 days: 13 months
    assert "max-age=34214400" in by_name["fid_vt"]


def test_secure_flag_behind_trusted_https_proxy(store, site_id: str, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, [site_id], trust_proxy=True), store).start()
    try:
        with server.client() as client:
            response = client.post("/collect", json=batch(site_id, pageview()), headers={"X-Forwarded-Proto": "https"})
        assert all("; Secure" in h for h in response.headers.get_list("set-cookie"))
    finally:
        server.stop()


def test_returning_visitor_keeps_id_and_session_rolls_after_idle(store, site_id: str, tmp_path: Path) -> None:
    clock = FakeClock()
    server = LiveServer(make_settings(tmp_path, [site_id]), store, clock=clock).start()
    try:
        with server.client() as client:
            first = client.post("/collect", json=batch(site_id, pageview("/r/a")))
            clock.advance(10 * 60)
            second = client.post("/collect", json=batch(site_id, pageview("/r/b")))
            clock.advance(31 * 60)
            third = client.post("/collect", json=batch(site_id, pageview("/r/c")))
        assert first.status_code == second.status_code == third.status_code == 204
        assert "fid_vid" not in jar_of(second)  # same visit: the visitor cookie is only refreshed per visit
        assert "fid_vid" in jar_of(third)
        server.flush()
        rows = events_of(store, site_id, "visitor_id, session_id, rubrique")
        assert len({r["visitor_id"] for r in rows}) == 1
        sessions = [r["session_id"] for r in rows]
        assert sessions[0] == sessions[1] != sessions[2]
    finally:
        server.stop()


def test_events_of_one_batch_split_into_sessions_by_their_own_time(live: LiveServer, site_id: str, store) -> None:
    now = int(time.time() * 1000)
    events = [pageview("/r/a", ts=now - 3_600_000), pageview("/r/b", ts=now - 3_500_000), pageview("/r/c", ts=now)]
    with live.client() as client:
        assert client.post("/collect", json=batch(site_id, *events)).status_code == 204
    live.flush()
    sessions = [r["session_id"] for r in events_of(store, site_id, "session_id")]
    assert sessions[0] == sessions[1] != sessions[2]


def test_future_ts_is_clamped_to_server_clock(live: LiveServer, site_id: str, store) -> None:
    with live.client() as client:
        client.post("/collect", json=batch(site_id, pageview(ts=int(time.time() * 1000) + 86_400_000)))
    live.flush()
    [row] = events_of(store, site_id, "ts, received_at")
    assert row["ts"] == row["received_at"]


def test_identify_links_earlier_anonymous_visits(store, site_id: str, tmp_path: Path) -> None:
    clock = FakeClock()
    server = LiveServer(make_settings(tmp_path, [site_id]), store, clock=clock).start()
    try:
        with server.client() as client:
            client.post("/collect", json=batch(site_id, pageview("/r/a")))
            clock.advance(3 * 86400)  # a later visit
            client.post("/collect", json=batch(site_id, pageview("/r/b"), {"type": "identify", "customer_id": "C-42"}))
            client.post("/collect", json=batch(site_id, pageview("/r/c")))
        server.flush()
        rows = store.client.query(
            "SELECT customer_id, uniqExact(session_id), count() FROM events_identified "
            "WHERE site_id = {s:String} GROUP BY customer_id", parameters={"s": site_id}).result_rows
        assert rows == [("C-42", 2, 4)]  # both visits, all four events, one customer
    finally:
        server.stop()


def test_ecommerce_fields_are_stored(live: LiveServer, site_id: str, store) -> None:
    purchase = {"type": "purchase", "url": "https://shop.example/checkout", "order_id": "O-1", "revenue": 129.5,
                "items": [{"product_id": "p1", "price": 79.5, "quantity": 1}, {"product_id": "p2", "price": 25.0,
                                                                              "quantity": 2}]}
    survey = {"type": "survey", "satisfaction": 4, "nps": 9}
    view = {"type": "product_view", "url": "https://shop.example/p/p1", "product_id": "p1", "price": 79.5,
            "rubrique": "chaussures", "props": {"color": "noir"}}
    with live.client() as client:
        assert client.post("/collect", json=batch(site_id, view, purchase, survey)).status_code == 204
    live.flush()
    rows = {r["event_type"]: r for r in events_of(store, site_id)}
    assert rows["product_view"]["product_id"] == "p1" and rows["product_view"]["price"] == 79.5
    assert json.loads(rows["product_view"]["props"]) == {"color": "noir"}
    assert rows["purchase"]["order_id"] == "O-1" and rows["purchase"]["revenue"] == 129.5
    assert [i["product_id"] for i in json.loads(rows["purchase"]["items"])] == ["p1", "p2"]
    assert (rows["survey"]["satisfaction"], rows["survey"]["nps"]) == (4, 9)


@pytest.mark.parametrize("ua, is_bot", [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 1),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36", 1),
    ("python-requests/2.32.3", 1),
    (FIREFOX, 0),
])
def test_bots_are_flagged(live: LiveServer, site_id: str, store, ua: str, is_bot: int) -> None:
    with live.client(headers={"User-Agent": ua}) as client:
        client.post("/collect", json=batch(site_id, pageview()))
    live.flush()
    [row] = events_of(store, site_id, "is_bot, device_type")
    assert row["is_bot"] == is_bot
    assert (row["device_type"] == "bot") == bool(is_bot)


def test_pixel_stores_one_event(live: LiveServer, site_id: str, store) -> None:
    with live.client() as client:
        response = client.get("/p.gif", params={"site_id": site_id, "type": "pageview",
                                                "url": "https://shop.example/r/mail", "price": "12.5"})
        bad = client.get("/p.gif", params={"site_id": site_id, "type": "pageview"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "events[0].url"
    live.flush()
    assert [(e["rubrique"], e["price"]) for e in events_of(store, site_id)] == [("mail", 12.5)]


def test_snippet_is_small_cacheable_and_versioned(live: LiveServer) -> None:
    with live.client() as client:
        response = client.get("/t.js")
        again = client.get("/t.js", headers={"If-None-Match": response.headers["etag"]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert len(gzip.compress(response.content, 9)) < 1024
    assert b"sendBeacon" in response.content and b'fidelia.v = "1"' in response.content
    assert again.status_code == 304


def test_cross_origin_allowed_only_from_site_origins(live: LiveServer, site_id: str, store) -> None:
    with live.client() as client:
        ok = client.post("/collect", json=batch(site_id, pageview()), headers={"Origin": "https://shop.example"})
        refused = client.post("/collect", json=batch(site_id, pageview()), headers={"Origin": "https://evil.example"})
        same = client.post("/collect", json=batch(site_id, pageview()), headers={"Origin": live.base_url})
        preflight = client.options("/collect", headers={"Origin": "https://shop.example",
                                                        "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert same.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    live.flush()
    assert count_events(store, site_id) == 2


def test_metrics_count_accepted_and_rejected(live: LiveServer, site_id: str) -> None:
    with live.client() as client:
        client.post("/collect", json=batch(site_id, pageview(), pageview()))
        client.post("/collect", content=b"{oops", headers={"Content-Type": "application/json"})
        live.flush()
        text = client.get("/metrics").text
        health = client.get("/healthz").json()
    assert "fidelia_events_accepted_total 2" in text
    assert 'fidelia_requests_rejected_total{reason="invalid_json"} 1' in text
    assert "fidelia_events_flushed_total 2" in text
    assert "fidelia_flush_seconds_count 1" in text
    assert health["status"] == "ok"


def test_other_methods_on_the_hot_routes_still_get_405(live: LiveServer) -> None:
    # /collect and /p.gif are served ahead of the router (collector/http.py); other methods
    # still reach the router, which answers 405 with the allowed methods.
    with live.client() as client:
        get = client.get("/collect")
        post = client.post("/p.gif", content=b"")
    assert get.status_code == 405 and "POST" in get.headers["allow"]
    assert post.status_code == 405 and "GET" in post.headers["allow"]
