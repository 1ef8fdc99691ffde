"""Per-client rate limit on the collector: a token bucket per client address, in memory only.

The key is the client's address as the socket (or a trusted proxy) gives it. It lives in this
process's memory for as long as its bucket is not full again, and is never stored, logged nor
put in a metric. Buckets refill at FIDELIA_RATE_LIMIT_PER_MINUTE and hold at most
FIDELIA_RATE_LIMIT_BURST requests; a full bucket carries no information, so a sweep every
PRUNE_EVERY seconds drops them, which bounds the memory to the clients seen lately.
"""

from __future__ import annotations

import math

PRUNE_EVERY = 60.0


class RateLimiter:
    """Token buckets by client key; `check()` is a dict lookup and a few float operations."""

    def __init__(self, per_minute: int, burst: int, exempt: frozenset[str] = frozenset()) -> None:
        self.rate = per_minute / 60.0  # tokens per second; 0 turns the limit off
        self.burst = float(max(burst, 1))
        self.exempt = exempt
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]
        self._next_prune = 0.0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, client_key: str, now: float) -> int | None:
        """Take one token for this client: None if it may go on, else the seconds to wait (Retry-After)."""
        if not self.rate or client_key in self.exempt:
            return None
        if now >= self._next_prune:
            self.prune(now)
        bucket = self._buckets.get(client_key)
        if bucket is None:
            self._buckets[client_key] = [self.burst - 1.0, now]
            return None
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def prune(self, now: float) -> None:
        """Forget the clients whose bucket has refilled: they are back to where a new client starts."""
        full_after = self.burst / self.rate
        self._buckets = {key: b for key, b in self._buckets.items() if now - b[1] < full_after}
        self._next_prune = now + PRUNE_EVERY


def client_address(scope_client: tuple[str, int] | None, forwarded_for: str | None, trust_proxy: bool) -> str:
    """The address a request came from: the socket's peer, or the nearest hop a trusted proxy names.
    Read for the rate limit and the cookieless hash only, in memory; never stored nor logged."""
    if trust_proxy and forwarded_for:
        return forwarded_for.rsplit(",", 1)[-1].strip()
    return scope_client[0] if scope_client else ""
