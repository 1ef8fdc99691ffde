"""The dashboard's sign-in: an API key with the `reports` (or `admin`) scope, then a signed session cookie.

The cookie holds no secret and no key, only `expiry.nonce.key_tag.signature`: an HMAC-SHA256
(FIDELIA_SECRET_KEY, else a random secret per process) over the rest. `key_tag` names the key
that signed in, so a session ends as soon as its key leaves FIDELIA_API_KEYS (at the next start),
and signing out revokes the nonce in this process until the session would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from fidelia.auth import ApiKey, ApiKeys, hash_key, new_key

log = logging.getLogger(__name__)

SESSION_COOKIE = "fidelia_dashboard"
SESSION_SECONDS = 8 * 3600
DASHBOARD_SCOPES = frozenset({"reports", "admin"})
TAG_BYTES = 8


@dataclass(frozen=True)
class Session:
    expires: int
    nonce: str
    key_tag: str


class DashboardKeys:
    """The keys that may open the dashboard: the configured ones with `reports` or `admin`, or, for
    `fidelia serve --demo` without any configured key, one made at start-up and logged once."""

    def __init__(self, keys: ApiKeys, demo: bool = False) -> None:
        self.keys = [key for key in keys.keys if key.scopes & DASHBOARD_SCOPES]
        self.configured = bool(keys.keys)
        self.demo_key: str | None = None
        if demo and not keys.keys:
            self.demo_key, entry = new_key(["reports"])
            self.keys = ApiKeys.parse(entry).keys
            log.warning("dashboard: sign in with key %s", self.demo_key)

    def match(self, presented: str) -> ApiKey | None:
        """The key `presented` is, hashed as fidelia.auth does and compared to every key in constant time."""
        digest = bytes.fromhex(hash_key(presented))
        matched = None
        for key in self.keys:  # every key, found or not: the timing says nothing
            if hmac.compare_digest(digest, key.digest):
                matched = key
        return matched

    def has_tag(self, tag: str) -> bool:
        return any(hmac.compare_digest(tag, key_tag(key)) for key in self.keys)


def key_tag(key: ApiKey) -> str:
    return key.digest[:TAG_BYTES].hex()


class SessionSigner:
    """Makes and checks session cookie values; `clock` is seconds since the epoch."""

    def __init__(self, secret: str, keys: DashboardKeys, clock: Callable[[], float]) -> None:
        self.secret = (secret or secrets.token_urlsafe(32)).encode()
        self.keys = keys
        self.clock = clock
        self.revoked: dict[str, int] = {}

    def issue(self, key: ApiKey) -> str:
        payload = f"{int(self.clock()) + SESSION_SECONDS}.{secrets.token_urlsafe(12)}.{key_tag(key)}"
        return f"{payload}.{self._sign(payload)}"

    def check(self, value: str | None) -> Session | None:
        """The session a cookie value stands for, or None: unsigned, tampered, expired, revoked, or its key gone."""
        if not value or value.count(".") != 3:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        expires, nonce, tag = payload.split(".")
        if not expires.isdigit() or int(expires) <= self.clock() or nonce in self.revoked:
            return None
        if not self.keys.has_tag(tag):
            return None
        return Session(int(expires), nonce, tag)

    def revoke(self, session: Session) -> None:
        now = self.clock()
        self.revoked = {nonce: until for nonce, until in self.revoked.items() if until > now}
        self.revoked[session.nonce] = session.expires

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self.secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")
