"""Per-client rate limit: the bucket itself with a hand-moved clock, then over real HTTP."""

from __future__ import annotations

from pathlib import Path

from collector.ratelimit import PRUNE_EVERY, RateLimiter, client_address
from tests.conftest import FakeClock, LiveServer, count_events, make_settings


def test_burst_then_refill_at_the_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.check("a", 100.0) for _ in range(3)] == [None, None, None]
    assert limiter.check("a", 100.0) == 1  # one token a second: wait 1 s
    assert limiter.check("b", 100.0) is None  # another client has its own bucket
    assert limiter.check("a", 101.0) is None
    assert limiter.check("a", 101.0) == 1


def test_retry_after_says_how_long_a_slow_rate_takes() -> None:
    limiter = RateLimiter(per_minute=2, burst=1)
    assert limiter.check("a", 0.0) is None
    assert limiter.check("a", 0.0) == 30


def test_exempt_and_disabled_never_limit() -> None:
    exempt = RateLimiter(per_minute=1, burst=1, exempt=frozenset({"127.0.0.1"}))
    assert all(exempt.check("127.0.0.1", 0.0) is None for _ in range(100))
    off = RateLimiter(per_minute=0, burst=1)
    assert not off.enabled and all(off.check("a", 0.0) is None for _ in range(100))


def test_idle_clients_are_forgotten() -> None:
    limiter = RateLimiter(per_minute=60, burst=10)
    for n in range(1000):
        limiter.check(f"10.0.{n // 256}.{n % 256}", 0.0)
    assert len(limiter) == 1000
    limiter.check("busy", PRUNE_EVERY)  # ten seconds refill a bucket of 10: every earlier one is full
    assert len(limiter) == 1


def test_forwarded_address_only_from_a_trusted_proxy() -> None:
    assert client_address(("10.0.0.1", 5000), "198.51.100.1, 203.0.113.9", trust_proxy=True) == "203.0.113.9"
    assert client_address(("10.0.0.1", 5000), "198.51.100.1", trust_proxy=False) == "10.0.0.1"
    assert client_address(None, None, trust_proxy=False) == ""


def test_collect_answers_429_with_retry_after_and_stores_nothing_refused(store, site_id: str, tmp_path: Path) -> None:
    clock = FakeClock()
    settings = make_settings(tmp_path, [site_id], rate_limit_per_minute=60, rate_limit_burst=5,
                             rate_limit_exempt="")  # loopback limited too, for the test
    server = LiveServer(settings, store, clock=clock).start()
    batch = {"site_id": site_id, "events": [{"type": "pageview", "url": "https://shop.example/r/a"}]}
    try:
        with server.client() as client:
            statuses = [client.post("/collect", json=batch).status_code for _ in range(8)]
            limited = client.post("/collect", json=batch)
            pixel = client.get("/p.gif", params={"site_id": site_id, "type": "pageview", "url": "https://shop.example/"})
            clock.advance(2)
            again = client.post("/collect", json=batch)
            metrics = client.get("/metrics").text
        assert statuses == [204] * 5 + [429] * 3
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["code"] == "rate_limited"
        assert pixel.status_code == 429
        assert again.status_code == 204
        assert 'fidelia_requests_rejected_total{reason="rate_limited"} 5' in metrics
        assert "fidelia_rate_limit_clients 1" in metrics
        assert "127.0.0.1" not in metrics
        server.flush()
        assert count_events(store, site_id) == 6
    finally:
        server.stop()
