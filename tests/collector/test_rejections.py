"""Bad input: every case answered with a 4xx naming the problem, and nothing stored."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import LiveServer, count_events

UNKNOWN = "no-such-site"


def body(site_id: str, *events: dict) -> bytes:
    return json.dumps({"site_id": site_id, "events": list(events)}).encode()


PV = {"type": "pageview", "url": "https://shop.example/r/a"}

CASES = [
    # name, body builder, content type, status, error code, field
    ("malformed json", lambda s: b'{"site_id": "' + s.encode() + b'", "events": [', "application/json", 400,
     "invalid_json", None),
    ("not json at all", lambda s: b"\x00\xff\xfe", "text/plain", 400, "invalid_json", None),
    ("wrong content type", lambda s: body(s, PV), "application/x-www-form-urlencoded", 415,
     "unsupported_content_type", None),
    ("no content type", lambda s: body(s, PV), "", 415, "unsupported_content_type", None),
    ("body over the limit", lambda s: body(s, {**PV, "props": {"x": "a" * 20_000}}), "application/json", 413,
     "body_too_large", None),
    ("too many events", lambda s: body(s, *[PV] * 51), "application/json", 422, "too_many_events", "events"),
    ("no events key", lambda s: json.dumps({"site_id": s}).encode(), "application/json", 422, "invalid_event",
     "events"),
    ("empty events", lambda s: body(s), "application/json", 422, "invalid_event", "events"),
    ("events not a list", lambda s: json.dumps({"site_id": s, "events": {}}).encode(), "application/json", 422,
     "invalid_event", "events"),
    ("type is a number", lambda s: body(s, {"type": 12, "url": "https://x.example/"}), "application/json", 422,
     "invalid_event", "events[0].type"),
    ("unknown event type", lambda s: body(s, {"type": "teleport", "url": "https://x.example/"}),
     "application/json", 422, "invalid_event", "events[0].type"),
    ("pageview without url", lambda s: body(s, {"type": "pageview"}), "application/json", 422, "invalid_event",
     "events[0].url"),
    ("url not http", lambda s: body(s, {"type": "pageview", "url": "javascript:alert(1)"}), "application/json",
     422, "invalid_event", "events[0].url"),
    ("price is text", lambda s: body(s, PV, {"type": "product_view", "product_id": "p", "price": "12"}),
     "application/json", 422, "invalid_event", "events[1].price"),
    ("negative revenue", lambda s: body(s, {"type": "purchase", "order_id": "o", "revenue": -3}),
     "application/json", 422, "invalid_event", "events[0].revenue"),
    ("purchase without order", lambda s: body(s, {"type": "purchase", "revenue": 3}), "application/json", 422,
     "invalid_event", "events[0].order_id"),
    ("nps out of range", lambda s: body(s, {"type": "survey", "nps": 11}), "application/json", 422,
     "invalid_event", "events[0].nps"),
    ("identify without customer", lambda s: body(s, {"type": "identify"}), "application/json", 422,
     "invalid_event", "events[0].customer_id"),
    ("ts too old", lambda s: body(s, {**PV, "ts": int(time.time() * 1000) - 40 * 86_400_000}),
     "application/json", 422, "invalid_event", "events[0].ts"),
    ("missing site", lambda s: json.dumps({"events": [PV]}).encode(), "application/json", 422, "invalid_event",
     "site_id"),
    ("unknown site", lambda s: body(UNKNOWN, PV), "application/json", 404, "unknown_site", "site_id"),
    ("top level is a list", lambda s: json.dumps([PV]).encode(), "application/json", 422, "invalid_event", None),
]


@pytest.mark.parametrize("name, make, content_type, status, code, field", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_is_stored(
    live: LiveServer, site_id: str, store, name, make, content_type, status, code, field
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with live.client() as client:
        response = client.post("/collect", content=make(site_id), headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert error["message"]
    assert "set-cookie" not in response.headers
    live.flush()
    assert count_events(store, site_id) == 0
    assert count_events(store, UNKNOWN) == 0


def test_a_batch_with_one_bad_event_stores_none_of_it(live: LiveServer, site_id: str, store) -> None:
    with live.client() as client:
        response = client.post("/collect", content=body(site_id, PV, PV, {"type": "pageview", "url": 5}),
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "events[2].url"
    live.flush()
    assert count_events(store, site_id) == 0


def test_body_over_the_limit_without_content_length_is_refused(live: LiveServer, site_id: str, store) -> None:
    def chunks():
        yield b'{"site_id": "' + site_id.encode() + b'", "events": [{"type": "pageview", "url": "https://x.example/'
        for _ in range(40):
            yield b"a" * 1000
        yield b'"}]}'

    with live.client() as client:
        response = client.post("/collect", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    live.flush()
    assert count_events(store, site_id) == 0
