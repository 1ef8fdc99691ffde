"""Consent: whether a request may carry the visitor cookies, and what identifies its events if not.

Per site (sites file): `opt-out` puts cookies unless the visitor refused; `opt-in` puts none and
stores no identifier until the visitor grants. The visitor's choice is the `fid_consent` cookie
(`granted` or `refused`), set by `POST /consent`, which the snippet's
`fidelia('consent', 'grant'|'refuse')` calls. With `honour_gpc = true`, `Sec-GPC: 1` or `DNT: 1`
is a refusal that no cookie overrides.

Without cookies, events still count: the visitor is a keyed hash of the site, the truncated client
address and the User-Agent, under a random salt drawn for the current UTC day and held in memory
only. When the day changes the salt is replaced and the old one is gone, so nobody (the operator
included) can link one day's hash to another's. Everything here runs per request: the decisions
are four prebuilt constants and the hash is one BLAKE2b call.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from collector.cookies import (
    FIRST_SEEN_COOKIE,
    SESSION_COOKIE,
    VISITOR_COOKIE,
    VISITOR_MAX_AGE,
    VisitState,
    cookie_flags,
)
from collector.validate import BatchIn
from fidelia.errors import BodyTooLarge, InvalidEvent, InvalidJSON
from fidelia.sites import Site

CONSENT_COOKIE = "fid_consent"
GRANTED, IMPLIED, ANONYMOUS, REFUSED = "granted", "implied", "anonymous", "refused"
CHOICES = (GRANTED, REFUSED)
TRACKING_COOKIES = (VISITOR_COOKIE, SESSION_COOKIE, FIRST_SEEN_COOKIE)
DAY_SECONDS = 86_400
MAX_CONSENT_BODY = 1024


@dataclass(frozen=True, slots=True)
class Decision:
    """What one request may do. `consent` is the value of the events' `consent` column."""

    consent: str
    cookies: bool


GRANTED_DECISION = Decision(GRANTED, True)
IMPLIED_DECISION = Decision(IMPLIED, True)
ANONYMOUS_DECISION = Decision(ANONYMOUS, False)
REFUSED_DECISION = Decision(REFUSED, False)


class DailySalt:
    """A random key for the current UTC day only; the previous day's key is dropped, not kept."""

    def __init__(self) -> None:
        self._day = -1
        self._key = b""

    def key(self, now_s: float) -> bytes:
        day = int(now_s // DAY_SECONDS)
        if day != self._day:
            self._day, self._key = day, os.urandom(32)
        return self._key


class AnonymousVisit(VisitState):
    """A cookieless visitor: one visit per day, since nothing can carry the time of its last event."""

    def session_for(self, ts_ms: int, timeout_ms: int) -> str:
        return self.session_id or ""


class ConsentPolicy:
    """Decides per request, and builds the cookieless identity and the consent cookies."""

    def __init__(self) -> None:
        self.salt = DailySalt()

    def decide(self, site: Site, cookies: Mapping[str, str], headers: Mapping[str, str]) -> Decision:
        if site.honour_gpc and (headers.get("sec-gpc") == "1" or headers.get("dnt") == "1"):
            return REFUSED_DECISION
        choice = cookies.get(CONSENT_COOKIE)
        if choice == GRANTED:
            return GRANTED_DECISION
        if choice == REFUSED:
            return REFUSED_DECISION
        return IMPLIED_DECISION if site.consent == "opt-out" else ANONYMOUS_DECISION

    def anonymous_visit(self, site_id: str, address: str, user_agent: str, now_s: float) -> AnonymousVisit:
        """The day's hashed visitor; the address is truncated before it enters the hash."""
        key = self.salt.key(now_s)
        material = f"{site_id}\x00{truncate_address(address)}\x00{user_agent}".encode()
        visitor = hashlib.blake2b(material, key=key, digest_size=16).hexdigest()
        session = hashlib.blake2b(visitor.encode(), key=key, digest_size=8, person=b"session").hexdigest()
        return AnonymousVisit(visitor, session, 0)


def strip_identifiers(batch: BatchIn) -> None:
    """Before consent, or after a refusal, the shop's own customer id is not stored either."""
    for event in batch.events:
        if event.customer_id is not None:
            event.customer_id = None


def forget_cookie_headers(cookies: Mapping[str, str], secure: bool, domain: str) -> list[str]:
    """Set-Cookie values deleting whichever tracking cookies the browser still sent."""
    flags = cookie_flags(secure, domain)
    return [f"{name}=; Max-Age=0{flags}" for name in TRACKING_COOKIES if name in cookies]


def choice_cookie_header(choice: str, secure: bool, domain: str) -> str:
    return f"{CONSENT_COOKIE}={choice}; Max-Age={VISITOR_MAX_AGE}{cookie_flags(secure, domain)}"


def truncate_address(address: str) -> str:
    """IPv4 to its /24, IPv6 to its /48: enough to tell households apart within a day, not a person."""
    if address.count(".") == 3 and ":" not in address:  # the common case, without ipaddress's cost
        return address.rsplit(".", 1)[0] + ".0"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class ConsentIn(msgspec.Struct, forbid_unknown_fields=False):
    """The body of `POST /consent`, as the snippet sends it (text/plain with sendBeacon)."""

    site_id: str
    consent: str


CONSENT_DECODER = msgspec.json.Decoder(ConsentIn)


def decode_choice(body: bytes) -> ConsentIn:
    """The visitor's choice; a body that is not one is refused whole with the field named."""
    if len(body) > MAX_CONSENT_BODY:
        raise BodyTooLarge(f"a consent body is at most {MAX_CONSENT_BODY} bytes")
    try:
        choice = CONSENT_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"consent body: {exc}; send {{\"site_id\": ..., \"consent\": \"granted\"}}") from None
    except msgspec.DecodeError:
        raise InvalidJSON("consent body is not valid JSON") from None
    if choice.consent not in CHOICES:
        raise InvalidEvent(f"consent {choice.consent[:40]!r} must be one of {', '.join(CHOICES)}", field="consent")
    return choice
