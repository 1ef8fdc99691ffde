"""The ranking rules on a small hand-made model: stages, exclusions, diversity, cold start, holdout."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from recommender.api import in_holdout
from recommender.rank import Context, Product, SiteModel, VisitorView, recommend, strategy_for

NOW = datetime(2026, 6, 30, tzinfo=UTC)


def model() -> SiteModel:
    products = {}
    for rubrique in ("shoes", "bags", "hats"):
        for i in range(10):
            pid = f"{rubrique}-{i}"
            products[pid] = Product(pid, pid.title(), rubrique, 10.0 + i, f"/p/{pid}", is_new=i >= 8,
                                    popularity=100.0 - i)
    neighbours = {"shoes-5": [("bags-7", 5.0), ("hats-9", 3.0)]}
    return SiteModel("s", products, neighbours)


def visitor(**kwargs) -> VisitorView:
    return VisitorView("v", known=True, **kwargs)


def test_prospect_gets_best_sellers_of_their_rubriques_and_a_welcome() -> None:
    offer = recommend(model(), visitor(interests=(("shoes", 5.0),)), 8, Context(NOW))
    assert offer.strategy == "discovery" and offer.promotion == "welcome"
    counts = Counter(i.product.rubrique for i in offer.items)
    assert counts["shoes"] == 5  # the diversity cap: ceil(0.6 × 8)
    assert [i.product.product_id for i in offer.items[:3]] == ["shoes-0", "shoes-1", "shoes-2"]
    assert all(i.reason for i in offer.items)
    assert offer.items[0].reason == "Best seller in shoes"


def test_buyer_sees_complements_and_never_what_they_just_bought() -> None:
    bought = (("shoes-5", NOW - timedelta(days=3)), ("shoes-0", NOW - timedelta(days=200)))
    offer = recommend(model(), visitor(stage="buyer", interests=(("shoes", 5.0),), purchased=bought), 8,
                      Context(NOW))
    ids = [i.product.product_id for i in offer.items]
    assert offer.strategy == "complements"
    assert "shoes-5" not in ids            # bought 3 days ago: excluded
    assert "shoes-0" in ids                # bought 200 days ago: outside the 90-day window
    assert "bags-7" in ids and next(i for i in offer.items if i.product.product_id == "bags-7").reason.startswith(
        "Goes with")


def test_loyal_stages_see_new_arrivals_first() -> None:
    for stage, strategy in (("supporter", "new_arrivals"), ("ambassador", "previews")):
        offer = recommend(model(), visitor(stage=stage, interests=(("hats", 1.0),)), 4, Context(NOW))
        assert offer.strategy == strategy
        assert offer.items[0].product.is_new and offer.items[0].reason == "New in hats"


def test_at_risk_customer_gets_a_win_back_offer() -> None:
    offer = recommend(model(), visitor(stage="repeat_customer", segment="cannot_lose", interests=(("bags", 1.0),)),
                      4, Context(NOW))
    assert (offer.strategy, offer.promotion) == ("win_back", "win_back")


def test_cold_start_uses_the_page_then_the_campaign_then_popularity() -> None:
    unknown = VisitorView("new")
    on_page = recommend(model(), unknown, 4, Context(NOW, rubrique="hats"))
    assert on_page.strategy == "cold_start" and {i.product.rubrique for i in on_page.items[:2]} == {"hats"}
    from_campaign = recommend(model(), unknown, 4, Context(NOW, campaign="soldes-bags-juin"))
    assert from_campaign.items[0].product.rubrique == "bags"
    from_referrer = recommend(model(), unknown, 4, Context(NOW, referrer="https://www.google.com/search?q=hats+wool"))
    assert from_referrer.items[0].product.rubrique == "hats"
    plain = recommend(model(), unknown, 6, Context(NOW))
    assert len(plain.items) == 6 and all(i.reason == "Best seller" for i in plain.items)


def test_out_of_catalog_products_are_never_offered() -> None:
    m = model()
    m.neighbours["shoes-5"] = [("discontinued", 99.0)]
    offer = recommend(m, visitor(recent=("shoes-5",)), 10, Context(NOW))
    assert "discontinued" not in {i.product.product_id for i in offer.items}


@pytest.mark.parametrize("n", [1, 3, 8, 20])
def test_diversity_cap_holds_whenever_the_catalog_allows(n: int) -> None:
    offer = recommend(model(), visitor(interests=(("shoes", 9.0),)), n, Context(NOW))
    assert len(offer.items) == n
    assert max(Counter(i.product.rubrique for i in offer.items).values()) <= max(1, -(-6 * n // 10))
    assert len({i.product.product_id for i in offer.items}) == n


def test_holdout_gets_the_popularity_baseline() -> None:
    offer = recommend(model(), visitor(interests=(("hats", 1.0),)), 4, Context(NOW), holdout=True)
    assert offer.strategy == "popular" and strategy_for(visitor(), holdout=True) == "popular"


def test_holdout_assignment_is_stable_and_near_its_share() -> None:
    ids = [f"{i:032x}" for i in range(20_000)]
    first = [in_holdout("demo", v, 0.1) for v in ids]
    assert first == [in_holdout("demo", v, 0.1) for v in ids]
    assert 0.09 < sum(first) / len(ids) < 0.11
    assert not any(in_holdout("demo", v, 0.0) for v in ids[:100])
