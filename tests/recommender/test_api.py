"""The profile and recommendation API over real HTTP, from a real snapshot built by the real job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fidelia.auth import new_key
from fidelia.store import Store
from profiles.job import rebuild_profiles
from tests.collector.test_spool import store_outage
from tests.conftest import LiveServer, make_settings

PROFILES_KEY, PROFILES_ENTRY = new_key(["profiles"])
REPORTS_KEY, REPORTS_ENTRY = new_key(["reports"])


@pytest.fixture
def api(store: Store, site_id: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, [site_id], api_keys=f"{PROFILES_ENTRY},{REPORTS_ENTRY}", reco_holdout=0.0)
    server = LiveServer(settings, store).start()
    yield server
    server.stop()


def browse(server: LiveServer, site_id: str, rubrique: str, products: int = 6) -> dict[str, str]:
    """A visitor views a rubrique's products; returns their cookies."""
    with server.client() as client:
        events = [{"type": "pageview", "url": f"https://shop.example/r/{rubrique}"}]
        events += [{"type": "product_view", "url": f"https://shop.example/p/{rubrique}-{i}", "rubrique": rubrique,
                    "product_id": f"{rubrique}-{i}", "price": 10.0 + i} for i in range(products)]
        response = client.post("/collect", json={"site_id": site_id, "events": events})
        assert response.status_code == 204
        return dict(client.cookies)


def rebuild(server: LiveServer, store: Store, site_id: str) -> None:
    server.flush()
    rebuild_profiles(store, server.services.settings, sites=[site_id])
    time.sleep(1.1)  # the reader looks for a new snapshot at most once a second


def test_me_returns_the_cookie_owners_profile_only(api: LiveServer, store: Store, site_id: str) -> None:
    alice = browse(api, site_id, "shoes")
    bob = browse(api, site_id, "bags")
    rebuild(api, store, site_id)
    with api.client(cookies=alice) as client:
        mine = client.get("/v1/me", params={"visitor_id": bob["fid_vid"]})  # a parameter cannot name another
    assert mine.status_code == 200
    assert mine.json()["visitor_id"] == alice["fid_vid"]
    assert [i["rubrique"] for i in mine.json()["interests"]] == ["shoes"]
    assert mine.headers["cache-control"] == "private, no-store"
    with api.client() as anonymous:
        assert anonymous.get("/v1/me").json() == {"visitor_id": None, "known": False}


def test_home_offer_follows_the_visitors_rubrique(api: LiveServer, store: Store, site_id: str) -> None:
    alice = browse(api, site_id, "shoes", products=8)
    browse(api, site_id, "bags", products=8)
    rebuild(api, store, site_id)
    with api.client(cookies=alice) as client:
        offer = client.get("/v1/me/recommendations", params={"slot": "home", "n": 6}).json()
    assert offer["visitor_id"] == alice["fid_vid"] and offer["slot"] == "home"
    assert offer["strategy"] == "discovery" and offer["holdout"] is False
    assert offer["profile"]["known"] and offer["profile"]["interests"] == ["shoes"]
    rubriques = [i["rubrique"] for i in offer["items"]]
    assert len(rubriques) == 6 and rubriques.count("shoes") >= 3
    assert all(i["reason"] and i["product_id"] and "score" in i for i in offer["items"])


def test_unknown_visitor_gets_a_cold_start_offer(api: LiveServer, store: Store, site_id: str) -> None:
    browse(api, site_id, "hats")
    rebuild(api, store, site_id)
    with api.client() as client:
        offer = client.get("/v1/me/recommendations", params={"rubrique": "hats"}).json()
    assert offer["strategy"] == "cold_start" and offer["profile"] == {
        "known": False, "returning": False, "lifecycle_stage": "prospect", "interests": []}
    assert offer["items"] and offer["items"][0]["rubrique"] == "hats"


def test_cors_only_for_the_sites_origins(api: LiveServer) -> None:
    with api.client() as client:
        allowed = client.get("/v1/me", headers={"Origin": "https://shop.example"})
        other = client.get("/v1/me", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in other.headers


def test_server_routes_need_a_key_with_the_profiles_scope(api: LiveServer, store: Store, site_id: str) -> None:
    alice = browse(api, site_id, "shoes")
    rebuild(api, store, site_id)
    path = f"/v1/profiles/{alice['fid_vid']}"
    with api.client() as client:
        missing = client.get(path)
        wrong = client.get(path, headers={"Authorization": "Bearer fk_not-a-key"})
        scope = client.get(path, headers={"Authorization": f"Bearer {REPORTS_KEY}"})
        ok = client.get(path, headers={"Authorization": f"Bearer {PROFILES_KEY}"})
        header = client.get(path, headers={"X-API-Key": PROFILES_KEY})
        unknown = client.get("/v1/profiles/nobody", headers={"X-API-Key": PROFILES_KEY})
        offer = client.get("/v1/recommendations/nobody", headers={"X-API-Key": PROFILES_KEY})
    assert (missing.status_code, wrong.status_code, scope.status_code) == (401, 401, 403)
    assert "key" in missing.json()["error"]["message"] and PROFILES_ENTRY not in wrong.text
    assert ok.status_code == header.status_code == 200 and ok.json()["lifecycle_stage"] == "prospect"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "profile_not_found"
    assert offer.status_code == 200 and offer.json()["strategy"] == "cold_start"


@pytest.mark.parametrize("params, field", [({"slot": "sidebar"}, "slot"), ({"n": "0"}, "n"), ({"n": "x"}, "n"),
                                           ({"n": "51"}, "n"), ({"site_id": "nope"}, "site_id")])
def test_bad_parameters_are_named(api: LiveServer, params: dict, field: str) -> None:
    with api.client() as client:
        response = client.get("/v1/me/recommendations", params=params)
    assert 400 <= response.status_code < 500 and response.json()["error"]["field"] == field


def test_new_snapshot_is_picked_up_and_served_while_clickhouse_is_down(api: LiveServer, store: Store,
                                                                       site_id: str) -> None:
    alice = browse(api, site_id, "shoes")
    rebuild(api, store, site_id)
    with api.client(cookies=alice) as client:
        assert client.get("/v1/me").json()["pageviews"] == 1
        browse_more = client.post("/collect", json={"site_id": site_id, "events": [
            {"type": "pageview", "url": "https://shop.example/r/bags"}]})
        assert browse_more.status_code == 204
        rebuild(api, store, site_id)
        assert client.get("/v1/me").json()["pageviews"] == 2  # no restart
        with store_outage(store):
            assert client.get("/v1/me").json()["pageviews"] == 2
            assert client.get("/v1/me/recommendations").status_code == 200


def test_openapi_describes_the_routes(api: LiveServer) -> None:
    from openapi_spec_validator import validate

    with api.client() as client:
        document = client.get("/openapi.json").json()
    validate(document)
    for path in ("/collect", "/p.gif", "/v1/me", "/v1/me/recommendations", "/v1/profiles/{visitor_id}",
                 "/v1/recommendations/{visitor_id}"):
        assert path in document["paths"]
    routed = {route.path for route in api.app.routes}
    assert set(document["paths"]) <= routed


def test_an_offer_cached_before_a_rebuild_is_not_served_after_it(api: LiveServer, store: Store,
                                                                 site_id: str) -> None:
    # Regression: the answer cache was read before looking for a new snapshot, so a visitor who
    # asked for an offer before their first profile existed kept getting the cold start.
    alice = browse(api, site_id, "shoes")
    rebuild(api, store, site_id)  # a first snapshot, made before alice's next visit
    with api.client(cookies=alice) as client:
        client.post("/collect", json={"site_id": site_id, "events": [
            {"type": "pageview", "url": "https://shop.example/r/bags"}]})
        before = client.get("/v1/me/recommendations").json()
        assert before["profile"]["interests"] == ["shoes"]
        rebuild(api, store, site_id)
        after = client.get("/v1/me/recommendations").json()
    assert set(after["profile"]["interests"]) == {"shoes", "bags"}
