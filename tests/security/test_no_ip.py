"""No raw client IP anywhere: not in events, not in the spool files, not in a log line, not in
/metrics, even behind a trusted proxy where the collector does read the address (rate limit,
cookieless hash)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fidelia.settings import Settings
from tests.conftest import FIREFOX, LiveServer

ADDRESS = "203.0.113.77"


def test_client_address_is_never_stored_nor_logged(store, site_id: str, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    opt_in = site_id + "i"
    sites = tmp_path / "sites.toml"
    sites.write_text(f'[[site]]\nid = "{site_id}"\n\n[[site]]\nid = "{opt_in}"\nconsent = "opt-in"\n')
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_SITES_FILE": str(sites),
                                  "FIDELIA_TRUST_PROXY": "true", "FIDELIA_RATE_LIMIT_EXEMPT": "",
                                  "FIDELIA_FLUSH_INTERVAL": "60"})
    server = LiveServer(settings, store).start()
    try:
        with server.client(headers={"X-Forwarded-For": ADDRESS, "User-Agent": FIREFOX}) as client:
            for sid in (site_id, opt_in):
                event = {"type": "pageview", "url": "https://shop.example/"}
                assert client.post("/collect", json={"site_id": sid, "events": [event]}).status_code == 204
            assert client.post("/collect", content=b"{bad", headers={"Content-Type": "text/plain"}).status_code == 400
            metrics = client.get("/metrics").text
        spooled = b"".join(p.read_bytes() for p in settings.spool_dir.glob("*.seg"))
        assert spooled  # the batches are on disk, waiting for the writer
        server.flush()
    finally:
        server.stop()
    assert ADDRESS.encode() not in spooled and b"203.0.113." not in spooled
    assert ADDRESS not in metrics
    assert all(ADDRESS not in record.getMessage() for record in caplog.records)
    for sid in (site_id, opt_in):
        rows = store.client.query("SELECT * FROM events WHERE site_id = {s:String}", parameters={"s": sid}).result_rows
        assert len(rows) == 1
        assert not any("203.0.113." in str(value) for value in rows[0])
