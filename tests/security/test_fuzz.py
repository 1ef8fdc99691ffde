"""Fuzzing over real HTTP: Hypothesis-made `/collect` bodies and schemathesis cases drawn from
`/openapi.json`. Whatever comes in: no 5xx, nothing stored from a refused request, the server stays up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from collector.validate import EVENT_TYPES
from fidelia.auth import new_key
from tests.conftest import FIREFOX, LiveServer, count_events, make_settings

ADMIN_KEY, ADMIN_ENTRY = new_key(["profiles", "reports", "admin"])
# No shrinking: a failing example is reported as found, since each step of a shrink is a real request.
PHASES = (Phase.explicit, Phase.generate)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                phases=PHASES)

atoms = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40),
                  st.just("x" * 3000), st.just("<script>alert(1)</script>"), st.just("' OR 1=1 --"),
                  st.just("\u0000"), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                         st.integers(), max_size=3))
FIELDS = ["url", "referrer", "rubrique", "ts", "props", "product_id", "price", "quantity", "order_id", "revenue",
          "items", "customer_id", "query", "satisfaction", "nps"]


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Half well-formed page views, half events with fields replaced by anything at all."""
    event: dict[str, Any] = {"type": "pageview",
                             "url": draw(st.sampled_from(["https://shop.example/r/a", "https://shop.example/"]))}
    if draw(st.booleans()):
        return event
    event["type"] = draw(st.sampled_from(sorted(EVENT_TYPES)) | atoms)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        event[name] = draw(atoms)
    return event


@st.composite
def requests(draw: st.DrawFn, site_id: str) -> tuple[bytes, str, int]:
    """(body, content type, events in it if it is a well-formed batch for the site)."""
    site = draw(st.sampled_from([site_id, site_id, site_id, "nope", ""]))
    batch = {"site_id": draw(atoms) if draw(st.integers(0, 9)) == 0 else site,
             "events": draw(st.lists(events(), max_size=4))}
    shape = draw(st.sampled_from(["batch", "batch", "batch", "list", "atom", "bytes"]))
    if shape == "bytes":
        body = draw(st.binary(max_size=300))
    else:
        doc: Any = {"batch": batch, "list": batch["events"], "atom": draw(atoms)}[shape]
        body = json.dumps(doc).encode()
    content_type = draw(st.sampled_from(["application/json", "text/plain", "text/plain; charset=utf-8",
                                         "application/json", "application/x-www-form-urlencoded", ""]))
    return body, content_type, len(batch["events"])


@pytest.fixture
def server(store, site_id: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, [site_id], api_keys=ADMIN_ENTRY), store).start()
    yield live
    live.stop()


def test_fuzzed_collect_bodies_never_5xx_and_only_accepted_events_are_stored(server: LiveServer, site_id: str,
                                                                             store) -> None:
    accepted = 0
    statuses: set[int] = set()
    with server.client() as client:

        @FUZZ
        @given(request=requests(site_id))
        def post(request: tuple[bytes, str, int]) -> None:
            nonlocal accepted
            body, content_type, n = request
            response = client.post("/collect", content=body, headers={"Content-Type": content_type})
            statuses.add(response.status_code)
            assert response.status_code < 500, response.text
            if response.status_code == 204:
                accepted += n
            else:
                assert set(response.json()["error"]) >= {"code", "message"}

        post()
        assert client.get("/healthz").status_code == 200
    assert server.flush()
    assert 204 in statuses and len(statuses) > 2  # the fuzzer reached both sides of the validation
    assert count_events(store, site_id) == accepted


def test_schemathesis_cases_from_openapi_never_5xx(server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    headers = {"X-API-Key": ADMIN_KEY, "User-Agent": FIREFOX}
    seen: dict[str, set[int]] = {}
    for operation in operations:
        strategy = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                             operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  phases=PHASES)
        @given(case=strategy)
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.base_url, headers=headers, timeout=30)
            name = f"{case.operation.method.upper()} {case.operation.path}"
            seen.setdefault(name, set()).add(response.status_code)
            assert response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"

        call()
    assert len(seen) == len(operations)
    assert httpx.get(server.base_url + "/healthz").status_code == 200
