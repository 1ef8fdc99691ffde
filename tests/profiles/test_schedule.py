"""`fidelia serve` rebuilds profiles in the background while the collector keeps answering."""

from __future__ import annotations

import time
from pathlib import Path

from fidelia.store import Store
from tests.conftest import LiveServer, make_settings


def test_serve_rebuilds_profiles_on_schedule(store: Store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id], profiles_every_minutes=0.01)  # every 0.6 s
    server = LiveServer(settings, store).start()
    try:
        with server.client() as client:
            event = {"type": "pageview", "url": "https://shop.example/r/chaussures"}
            assert client.post("/collect", json={"site_id": site_id, "events": [event]}).status_code == 204
            server.flush()
            deadline, rows = time.time() + 30, []
            # the profiles reach ClickHouse before the snapshot (the recommender trains in between)
            while not (rows and settings.snapshot_path.exists()) and time.time() < deadline:
                assert client.get("/healthz").status_code == 200  # answering during rebuilds
                rows = store.client.query("SELECT visitor_id, pageviews FROM visitor_profiles FINAL "
                                          "WHERE site_id = {s:String}", parameters={"s": site_id}).result_rows
                time.sleep(0.2)
        assert len(rows) == 1 and rows[0][1] == 1
        assert settings.snapshot_path.exists()
    finally:
        server.stop()
