"""The profile and recommendation API.

- `/v1/me`, `/v1/me/recommendations`: the shop's front end asks for the visitor in front of it.
  The visitor is the `fid_vid` cookie and nothing else: no parameter can name another visitor.
  CORS is limited to the site's origins; answers are private and never cached by proxies.
- `/v1/profiles/{visitor_id}`, `/v1/recommendations/{visitor_id}`: the shop's servers, with an
  API key holding the `profiles` scope.
Everything is served from the DuckDB snapshot (with in-memory caches), never from ClickHouse,
so the API keeps answering while the store is down.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.cookies import VISITOR_COOKIE, VISITOR_ID
from fidelia.auth import ApiKeys
from fidelia.errors import FideliaError
from fidelia.settings import Settings
from fidelia.sites import Site, SiteRegistry
from recommender.rank import Context, Offer, recommend
from recommender.serving import SnapshotReader, visitor_view

SLOTS = ("home", "product", "listing", "cart")
MAX_ITEMS = 50
JSON = msgspec.json.Encoder()
PRIVATE = {"Cache-Control": "private, no-store", "Vary": "Origin, Cookie"}


class InvalidParameter(FideliaError):
    """A query parameter has a value the route cannot use."""

    status = 400
    code = "invalid_parameter"


class ProfileNotFound(FideliaError):
    """The snapshot holds no profile for this visitor (yet)."""

    status = 404
    code = "profile_not_found"


def profile_json(row: dict[str, Any]) -> dict[str, Any]:
    """A profile row as the public JSON (../shared/DESIGN.md, "Profile")."""
    when = lambda v: v.replace(tzinfo=UTC).isoformat() if isinstance(v, datetime) else v  # noqa: E731
    return {
        "visitor_id": row["visitor_id"], "customer_id": row["customer_id"] or None,
        "first_seen": when(row["first_seen"]), "last_seen": when(row["last_seen"]),
        "visits": row["visits"], "pageviews": row["pageviews"], "returning": bool(row["returning"]),
        "last_visits": json.loads(row["last_visits"] or "[]"), "interests": json.loads(row["interests"] or "[]"),
        "recency_days": row["recency_days"], "frequency": row["frequency"], "monetary": row["monetary"],
        "orders": row["orders"], "avg_basket": row["avg_basket"], "orders_per_month": row["orders_per_month"],
        "rfm": {"r": row["rfm_r"], "f": row["rfm_f"], "m": row["rfm_m"], "segment": row["rfm_segment"] or None},
        "lifecycle_stage": row["lifecycle_stage"], "lost": bool(row["lost"]),
        "p_alive": row["p_alive"], "predicted_clv": row["predicted_clv"],
        "satisfaction": row["satisfaction"], "satisfaction_mean": row["satisfaction_mean"], "nps": row["nps"],
        "complaints": row["complaints"], "updated_at": when(row["updated_at"]),
    }


def summary_json(row: dict[str, Any] | None) -> dict[str, Any]:
    """What the home page needs to greet the visitor, alongside the offer."""
    if not row:
        return {"known": False, "returning": False, "lifecycle_stage": "prospect", "interests": []}
    return {"known": True, "returning": bool(row["returning"]), "visits": row["visits"],
            "lifecycle_stage": row["lifecycle_stage"], "segment": row["rfm_segment"] or None,
            "interests": [i["rubrique"] for i in json.loads(row["interests"] or "[]")[:3]]}


class ProfileAPI:
    def __init__(self, settings: Settings, sites: SiteRegistry, reader: SnapshotReader, keys: ApiKeys,
                 clock: Callable[[], float]) -> None:
        self.settings = settings
        self.sites = sites
        self.reader = reader
        self.keys = keys
        self.clock = clock

    def routes(self) -> list[Route]:
        return [
            Route("/v1/me", self.me, methods=["GET", "OPTIONS"]),
            Route("/v1/me/recommendations", self.my_recommendations, methods=["GET", "OPTIONS"]),
            Route("/v1/profiles/{visitor_id}", self.profile, methods=["GET"]),
            Route("/v1/recommendations/{visitor_id}", self.recommendations, methods=["GET"]),
        ]

    # --- browser routes: the cookie owner only ------------------------------------------------

    async def me(self, request: Request) -> Response:
        site, origin = self._site(request)
        if request.method == "OPTIONS":
            return self._cors(Response(status_code=204), origin)
        visitor_id = _cookie_visitor(request)
        row = self.reader.visitor(site.site_id, visitor_id) if visitor_id else None
        body = profile_json(row) if row else {"visitor_id": visitor_id, "known": False}
        return self._cors(Response(JSON.encode(body), media_type="application/json", headers=dict(PRIVATE)), origin)

    async def my_recommendations(self, request: Request) -> Response:
        site, origin = self._site(request)
        if request.method == "OPTIONS":
            return self._cors(Response(status_code=204), origin)
        body = self._offer_bytes(request, site, _cookie_visitor(request))
        return self._cors(Response(body, media_type="application/json", headers=dict(PRIVATE)), origin)

    # --- server routes: API key ---------------------------------------------------------------

    async def profile(self, request: Request) -> Response:
        self.keys.require(request, "profiles")
        site, _ = self._site(request)
        visitor_id = request.path_params["visitor_id"]
        row = self.reader.visitor(site.site_id, visitor_id)
        if row is None:
            raise ProfileNotFound(f"no profile for visitor {visitor_id[:64]!r} on site {site.site_id!r} yet; "
                                  "profiles appear after the next rebuild", field="visitor_id")
        return Response(JSON.encode(profile_json(row)), media_type="application/json")

    async def recommendations(self, request: Request) -> Response:
        self.keys.require(request, "profiles")
        site, _ = self._site(request)
        return Response(self._offer_bytes(request, site, request.path_params["visitor_id"]),
                        media_type="application/json")

    # --- shared -------------------------------------------------------------------------------

    def _offer_bytes(self, request: Request, site: Site, visitor_id: str | None) -> bytes:
        slot, n, rubrique, campaign, referrer = _offer_params(request)
        self.reader.connection()  # a new snapshot empties the caches: look before using them
        key = (site.site_id, visitor_id, slot, n, rubrique, campaign, referrer)
        cached = self.reader.responses.get(key)
        if cached is not None:
            return cached
        row = self.reader.visitor(site.site_id, visitor_id) if visitor_id else None
        holdout = bool(visitor_id) and in_holdout(site.site_id, visitor_id or "", self.settings.reco_holdout)
        offer = recommend(self.reader.model(site.site_id), visitor_view(visitor_id or "", row), n,
                          Context(datetime.fromtimestamp(self.clock(), UTC), rubrique, campaign, referrer),
                          holdout=holdout, max_share=self.settings.reco_max_share,
                          exclude_bought_days=self.settings.reco_exclude_bought_days)
        body = JSON.encode(offer_json(visitor_id, slot, holdout, offer, summary_json(row)))
        self.reader.responses.put(key, body)
        return body

    def _site(self, request: Request) -> tuple[Site, str | None]:
        """The site asked about: `site_id`, else the one whose origins hold the Origin, else the only one."""
        origin = request.headers.get("origin")
        own = f"{request.scope['scheme']}://{request.headers.get('host', '')}" if origin else ""
        site_id = request.query_params.get("site_id")
        if site_id:
            site = self.sites.get(site_id)
        else:
            matching = [s for s in self.sites if s.allows_origin(origin, own)] if origin else []
            candidates = matching or self.sites.all
            if len(candidates) != 1:
                raise InvalidParameter("several sites are configured: pass site_id", field="site_id")
            site = candidates[0]
        if origin is not None and not site.allows_origin(origin, own):
            origin = None  # answered, but without CORS headers: the browser keeps it from the page
        return site, origin

    @staticmethod
    def _cors(response: Response, origin: str | None) -> Response:
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = "GET"
        return response


def offer_json(visitor_id: str | None, slot: str, holdout: bool, offer: Offer, profile: dict[str, Any]
               ) -> dict[str, Any]:
    return {
        "visitor_id": visitor_id, "slot": slot, "strategy": offer.strategy, "holdout": holdout,
        "promotion": offer.promotion,
        "items": [{"product_id": i.product.product_id, "name": i.product.name, "rubrique": i.product.rubrique,
                   "price": i.product.price, "url": i.product.url, "score": i.score, "reason": i.reason}
                  for i in offer.items],
        "profile": profile,
    }


def in_holdout(site_id: str, visitor_id: str, share: float) -> bool:
    """Stable per visitor: the same visitor is always in (or out of) the holdout."""
    digest = hashlib.sha256(f"{site_id}:{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def _cookie_visitor(request: Request) -> str | None:
    value = request.cookies.get(VISITOR_COOKIE, "") if request.headers.get("cookie") else ""
    return value if VISITOR_ID.match(value) else None


def _offer_params(request: Request) -> tuple[str, int, str, str, str]:
    query = request.query_params
    slot = query.get("slot", "home")
    if slot not in SLOTS:
        raise InvalidParameter(f"slot {slot[:32]!r} is not one of {', '.join(SLOTS)}", field="slot")
    raw_n = query.get("n", "8")
    if not raw_n.isdigit() or not 1 <= int(raw_n) <= MAX_ITEMS:
        raise InvalidParameter(f"n must be a whole number from 1 to {MAX_ITEMS}, got {raw_n[:16]!r}", field="n")
    rubrique, campaign, referrer = query.get("rubrique", ""), query.get("campaign", ""), query.get("referrer", "")
    for name, value, limit in (("rubrique", rubrique, 64), ("campaign", campaign, 128), ("referrer", referrer, 2048)):
        if len(value) > limit:
            raise InvalidParameter(f"{name} is longer than {limit} characters", field=name)
    return slot, int(raw_n), rubrique, campaign, referrer
