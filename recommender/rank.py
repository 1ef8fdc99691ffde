"""Rank products for one visitor and one page slot: the offer adapted to where they stand.

A pure function of the site's model (catalog, popularity, neighbours), what the profile says
of the visitor (stage, segment, interests, recent and purchased products) and the page
context, so the API, the offline evaluation and the tests all run the same code.

Strategies (docs/recommender.md), chosen by lifecycle stage and risk:
- cold_start (no profile yet): the current page's rubrique, else a rubrique named by the
  campaign or the referrer (a search for "chaussures", a link from a "sacs" page), else what is
  popular.
- discovery (prospect): best sellers of their interest rubriques, plus a welcome offer.
- complements (buyer): what goes with what they bought, then their rubriques' best sellers.
- loyalty (repeat customer): new arrivals in their rubriques, complements, best sellers.
- new_arrivals (supporter) and previews (ambassador): the newest products of their rubriques first.
- win_back (at risk or lost customer): their rubriques' best sellers and a win-back offer.
- popular (the holdout share): site best sellers for everyone, to measure the others against.
Never: a product bought within the exclusion window, a product out of the catalog or out of
stock. At most `max_share` of the items from one rubrique.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

RISKY_SEGMENTS = frozenset({"at_risk", "cannot_lose", "hibernating", "lost"})
POOL = 40  # candidates taken from each list before scoring


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    rubrique: str
    price: float | None
    url: str
    is_new: bool
    popularity: float


@dataclass
class SiteModel:
    """A site's recommendable products and their relations, in memory."""

    site_id: str
    products: dict[str, Product]
    neighbours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ranked = sorted(self.products.values(), key=lambda p: (-p.popularity, p.product_id))
        self.best_sellers = [p.product_id for p in ranked]
        self.by_rubrique: dict[str, list[str]] = defaultdict(list)
        self.new_by_rubrique: dict[str, list[str]] = defaultdict(list)
        for product in ranked:
            self.by_rubrique[product.rubrique].append(product.product_id)
            if product.is_new:
                self.new_by_rubrique[product.rubrique].append(product.product_id)
        self.new_arrivals = [p.product_id for p in ranked if p.is_new]


@dataclass(frozen=True)
class VisitorView:
    """What ranking needs of a visitor's profile; `known=False` for a visitor with none yet."""

    visitor_id: str
    known: bool = False
    stage: str = "prospect"
    segment: str = ""
    lost: bool = False
    interests: tuple[tuple[str, float], ...] = ()
    recent: tuple[str, ...] = ()
    purchased: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True)
class Context:
    """The page asking: its rubrique and campaign, and the time."""

    now: datetime
    rubrique: str = ""
    campaign: str = ""
    referrer: str = ""


@dataclass(frozen=True)
class Item:
    product: Product
    score: float
    reason: str


@dataclass(frozen=True)
class Offer:
    strategy: str
    items: list[Item]
    promotion: str | None = None


def strategy_for(visitor: VisitorView, holdout: bool) -> str:
    if holdout:
        return "popular"
    if not visitor.known:
        return "cold_start"
    if visitor.stage != "prospect" and (visitor.lost or visitor.segment in RISKY_SEGMENTS):
        return "win_back"
    return {"prospect": "discovery", "buyer": "complements", "repeat_customer": "loyalty",
            "supporter": "new_arrivals", "ambassador": "previews"}.get(visitor.stage, "discovery")


PROMOTIONS = {"discovery": "welcome", "loyalty": "loyalty", "new_arrivals": "loyalty", "previews": "preview",
              "win_back": "win_back"}


def recommend(model: SiteModel, visitor: VisitorView, n: int, context: Context, *, holdout: bool = False,
              max_share: float = 0.6, exclude_bought_days: int = 90) -> Offer:
    """The ranked offer of `n` products for this visitor, each with a short reason."""
    strategy = strategy_for(visitor, holdout)
    scores: dict[str, float] = defaultdict(float)
    reasons: dict[str, tuple[float, str]] = {}

    def add(product_ids: list[str], weight: float, reason: str) -> None:
        for rank, product_id in enumerate(product_ids[:POOL]):
            gain = weight / (1 + rank)
            scores[product_id] += gain
            if gain > reasons.get(product_id, (0.0, ""))[0]:
                reasons[product_id] = (gain, reason)

    rubriques = _interest_rubriques(model, visitor, context)
    if strategy == "popular":
        add(model.best_sellers, 1.0, "Best seller")
    elif strategy == "cold_start":
        for rubrique, share in rubriques:
            add(model.by_rubrique.get(rubrique, []), 2.0 * share, f"Popular in {rubrique}")
        add(model.best_sellers, 0.5, "Best seller")
    else:
        new_weight = {"loyalty": 1.5, "new_arrivals": 2.5, "previews": 3.0}.get(strategy, 0.3)
        complement_weight = {"complements": 2.5, "loyalty": 1.5}.get(strategy, 0.8)
        for rubrique, share in rubriques:
            add(model.by_rubrique.get(rubrique, []), 2.0 * share, f"Best seller in {rubrique}")
            add(model.new_by_rubrique.get(rubrique, []), new_weight * share, f"New in {rubrique}")
        for age, (product_id, _) in enumerate(visitor.purchased[:5]):
            bought = model.products.get(product_id)
            label = bought.name if bought else product_id
            add([p for p, _ in model.neighbours.get(product_id, [])], complement_weight / (1 + age),
                f"Goes with {label}")
        for age, product_id in enumerate(visitor.recent[:5]):
            seen = model.products.get(product_id)
            label = seen.name if seen else product_id
            add([p for p, _ in model.neighbours.get(product_id, [])], 1.0 / (1 + age), f"Because you viewed {label}")
        add(model.best_sellers, 0.2, "Best seller")

    excluded = _recently_bought(visitor, context.now, exclude_bought_days)
    ranked = sorted((p for p in scores if p in model.products and p not in excluded),
                    key=lambda p: (-scores[p], p))
    cap = max(1, math.ceil(max_share * n))
    chosen = _diverse(ranked, model, n, cap, [])
    if len(chosen) < n:  # narrow tastes or a small catalog: top up with best sellers, then drop the cap
        pool = [p for p in dict.fromkeys(ranked + model.best_sellers) if p not in excluded and p not in chosen]
        chosen = _diverse(pool, model, n, cap, chosen)
        chosen += [p for p in pool if p not in chosen][: n - len(chosen)]
    items = [Item(model.products[p], round(scores.get(p, 0.0), 4), reasons.get(p, (0, "Best seller"))[1])
             for p in chosen[:n]]
    return Offer(strategy, items, PROMOTIONS.get(strategy))


def _interest_rubriques(model: SiteModel, visitor: VisitorView, context: Context) -> list[tuple[str, float]]:
    """Rubriques to draw from, with their share: the profile's interests, else the page context."""
    if visitor.known and visitor.interests:
        top = [(r, s) for r, s in visitor.interests[:3] if r in model.by_rubrique and s > 0]
        total = sum(s for _, s in top)
        if total > 0:
            return [(r, s / total) for r, s in top]
    if context.rubrique in model.by_rubrique:
        return [(context.rubrique, 1.0)]
    hints = (context.campaign.lower(), context.referrer.lower())
    named = [r for hint in hints for r in sorted(model.by_rubrique) if r and r in hint]
    return [(named[0], 1.0)] if named else []


def _recently_bought(visitor: VisitorView, now: datetime, days: int) -> set[str]:
    since = now - timedelta(days=days)
    return {product_id for product_id, at in visitor.purchased if at >= since}


def _diverse(ranked: list[str], model: SiteModel, n: int, cap: int, taken: list[str]) -> list[str]:
    """`taken` followed by the best of `ranked`, at most `cap` per rubrique, `n` in all."""
    chosen = list(taken)
    per_rubrique: dict[str, int] = defaultdict(int)
    for product_id in chosen:
        per_rubrique[model.products[product_id].rubrique] += 1
    for product_id in ranked:
        if len(chosen) >= n:
            break
        rubrique = model.products[product_id].rubrique
        if per_rubrique[rubrique] < cap:
            chosen.append(product_id)
            per_rubrique[rubrique] += 1
    return chosen
