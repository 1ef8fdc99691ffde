"""First-party visitor and session cookies, set by the collector itself.

`fid_vid` is the visitor: 128 random bits, refreshed at each new visit, 13 months at most from
its first deposit: `fid_vt` carries that first-deposit time (epoch seconds), so each refresh sets
the remaining life only and a visitor id never outlives 13 months, however often they come.
`fid_sid` is the visit: a random session id and the time of the visitor's last event; a gap
of more than the session timeout starts a new visit. Keeping the last-event time in the
cookie makes the collector stateless (any worker, any host can answer) and lets the clock
of the events, not of the request, decide where a visit ends.
All are HttpOnly (no script on the page, ours included, can read or leak them) and
SameSite=Lax. Whether they are set at all is the consent policy's call (consent.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from collector.ids import random_bytes
from fidelia.settings import Settings

VISITOR_COOKIE = "fid_vid"
SESSION_COOKIE = "fid_sid"
FIRST_SEEN_COOKIE = "fid_vt"
VISITOR_MAX_AGE = 396 * 24 * 3600  # 13 months
VISITOR_ID = re.compile(r"^[0-9a-f]{32}$")
EPOCH_SECONDS = re.compile(r"^[0-9]{1,12}$")
SESSION_VALUE = re.compile(r"^([0-9a-f]{16})\.([0-9]{1,15})$")


def secure_cookies(settings: Settings, request: Request) -> bool:
    """Whether cookies set on this request get the `Secure` flag (FIDELIA_COOKIE_SECURE)."""
    return secure_for(settings, request.headers.get("x-forwarded-proto", ""), request.url.scheme)


def secure_for(settings: Settings, forwarded_proto: str, scheme: str) -> bool:
    """The same rule from the raw parts: the collector's hot path has no Starlette Request."""
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    if settings.trust_proxy and forwarded_proto.lower() == "https":
        return True
    return scheme == "https"


def new_visitor_id() -> str:
    return random_bytes(16).hex()


def new_session_id() -> str:
    return random_bytes(8).hex()


@dataclass
class VisitState:
    """Who is sending, and where their current visit stands, as the cookies tell it."""

    visitor_id: str
    session_id: str | None
    last_ms: int
    new_visit: bool = False
    first_s: int = 0  # when fid_vid was first deposited (epoch seconds)

    @classmethod
    def from_cookies(cls, cookies: dict[str, str], now_s: int) -> VisitState:
        visitor = cookies.get(VISITOR_COOKIE, "")
        first = cookies.get(FIRST_SEEN_COOKIE, "")
        # A visitor cookie from before fid_vt existed starts its 13 months now.
        first_s = int(first) if EPOCH_SECONDS.match(first) and int(first) <= now_s else now_s
        if not VISITOR_ID.match(visitor) or now_s - first_s >= VISITOR_MAX_AGE:
            return cls(new_visitor_id(), None, 0, first_s=now_s)
        session = SESSION_VALUE.match(cookies.get(SESSION_COOKIE, ""))
        if not session:
            return cls(visitor, None, 0, first_s=first_s)
        return cls(visitor, session.group(1), int(session.group(2)), first_s=first_s)

    def session_for(self, ts_ms: int, timeout_ms: int) -> str:
        """The session of an event at ts_ms: the current one, or a new one after an idle gap."""
        if self.session_id is None or ts_ms - self.last_ms > timeout_ms:
            self.session_id = new_session_id()
            self.new_visit = True
        self.last_ms = max(self.last_ms, ts_ms)
        return self.session_id

    def set_cookie_headers(self, secure: bool, domain: str, session_max_age: int, now_s: int) -> list[str]:
        """Set-Cookie values: the session always, the visitor id when a visit starts (refresh), for
        what is left of its 13 months."""
        flags = cookie_flags(secure, domain)
        headers = [f"{SESSION_COOKIE}={self.session_id}.{self.last_ms}; Max-Age={session_max_age}{flags}"]
        if self.new_visit:
            left = max(VISITOR_MAX_AGE - (now_s - self.first_s), 0)
            headers.append(f"{VISITOR_COOKIE}={self.visitor_id}; Max-Age={left}{flags}")
            headers.append(f"{FIRST_SEEN_COOKIE}={self.first_s}; Max-Age={left}{flags}")
        return headers


def cookie_flags(secure: bool, domain: str) -> str:
    return "; Path=/; HttpOnly; SameSite=Lax" + (f"; Domain={domain}" if domain else "") + (
        "; Secure" if secure else ""
    )
