"""The visitor cookie lives 13 months from its first deposit, however often the visitor comes back."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import FakeClock, LiveServer, make_settings

DAY = 86_400
THIRTEEN_MONTHS = 396 * DAY


def cookies_of(response: httpx.Response) -> dict[str, str]:
    """name -> (value, max-age) as the Set-Cookie headers say."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name, rest = header.split("=", 1)
        value = rest.split(";", 1)[0]
        max_age = next(p.split("=", 1)[1] for p in rest.split("; ") if p.lower().startswith("max-age="))
        out[name] = f"{value}|{max_age}"
    return out


def test_visitor_cookie_life_is_not_extended_past_13_months_by_visits(store, site_id: str, tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    server = LiveServer(make_settings(tmp_path, [site_id]), store, clock=clock).start()
    batch = {"site_id": site_id, "events": [{"type": "pageview", "url": "https://shop.example/r/a"}]}
    try:
        with server.client() as client:
            first = cookies_of(client.post("/collect", json=batch))
            vid, age = first["fid_vid"].split("|")
            assert int(age) == THIRTEEN_MONTHS and first["fid_vt"] == f"1700000000|{THIRTEEN_MONTHS}"
            # The cookie jar keeps what it got; the server is told the same cookies at each later visit.
            jar = {"Cookie": f"fid_vid={vid}; fid_vt=1700000000"}
            clock.advance(200 * DAY)
            later = cookies_of(client.post("/collect", json=batch, headers=jar))
            assert later["fid_vid"] == f"{vid}|{THIRTEEN_MONTHS - 200 * DAY}"  # refreshed, not extended
            assert later["fid_vt"] == f"1700000000|{THIRTEEN_MONTHS - 200 * DAY}"
            clock.advance(196 * DAY)  # 13 months after the first deposit
            expired = cookies_of(client.post("/collect", json=batch, headers=jar))
            new_vid, new_age = expired["fid_vid"].split("|")
            assert new_vid != vid and int(new_age) == THIRTEEN_MONTHS
            assert expired["fid_vt"] == f"{int(clock.now)}|{THIRTEEN_MONTHS}"
            # An id from before fid_vt existed, or with a forged future date, starts its 13 months now.
            forged = {"Cookie": f"fid_vid={vid}; fid_vt=9999999999"}
            legacy = cookies_of(client.post("/collect", json=batch, headers=forged))
            assert legacy["fid_vid"] == f"{vid}|{THIRTEEN_MONTHS}"
    finally:
        server.stop()
