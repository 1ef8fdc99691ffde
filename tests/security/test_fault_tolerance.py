"""Fault tolerance under load: the store goes away and comes back while clients keep posting; a
profiles job that died mid-write leaves a half-written snapshot the API never opens."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fidelia.store import Store
from recommender.serving import CHECK_EVERY_SECONDS
from tests.collector.test_spool import store_outage, unique_events
from tests.conftest import FIREFOX, LiveServer, count_events, make_settings
from tests.recommender.test_api import browse, rebuild

CLIENTS = 4


def test_outage_in_the_middle_of_a_concurrent_load_loses_and_doubles_nothing(store: Store, site_id: str,
                                                                             tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, [site_id], flush_interval=0.05, retry_max_seconds=0.2),
                        store).start()
    stop = threading.Event()
    accepted = [0] * CLIENTS
    failures: list[int] = []

    def load(n: int) -> None:
        with httpx.Client(base_url=server.base_url, headers={"User-Agent": FIREFOX}, timeout=10) as client:
            i = 0
            while not stop.is_set():
                events = [{"type": "pageview", "url": f"https://shop.example/r/a/{n}-{i}-{k}"} for k in range(3)]
                response = client.post("/collect", json={"site_id": site_id, "events": events})
                if response.status_code == 204:
                    accepted[n] += 3
                else:
                    failures.append(response.status_code)
                i += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        with store_outage(store):  # the writer's inserts fail from here, mid-load
            before = sum(accepted)
            time.sleep(1.0)
            during = sum(accepted) - before
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert server.flush()
    finally:
        stop.set()
        server.stop()
    assert failures == []
    assert during > 0  # the collector kept answering 204 while the store was away
    assert server.services.metrics.events_spooled > 0 and server.services.metrics.events_replayed > 0
    assert count_events(store, site_id) == unique_events(store, site_id) == sum(accepted)


@pytest.fixture
def api(store: Store, site_id: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(make_settings(tmp_path, [site_id], reco_holdout=0.0), store).start()
    yield server
    server.stop()


def test_half_written_snapshot_is_never_opened(api: LiveServer, store: Store, site_id: str) -> None:
    alice = browse(api, site_id, "shoes")
    rebuild(api, store, site_id)
    live = api.services.settings.snapshot_path
    # What a job killed between its writes and its rename leaves next to the live file.
    half = live.with_name(f".{live.name}.999999.tmp")
    data = live.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with store_outage(store), api.client(cookies=alice) as client:
        time.sleep(CHECK_EVERY_SECONDS + 0.1)
        me = client.get("/v1/me")
        offer = client.get("/v1/me/recommendations")
    assert me.status_code == 200 and me.json()["pageviews"] == 1
    assert offer.status_code == 200 and offer.json()["items"]
    assert live.read_bytes() == data
