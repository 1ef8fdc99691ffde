"""The recommender's co-visitation neighbours are the same counted in buckets of visitors (a
bucketed profiles run) as in one query, on the real embedded store."""

from __future__ import annotations

import random
import secrets
from pathlib import Path

from polars.testing import assert_frame_equal

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.buckets import plan_buckets
from recommender.train import train
from tests.profiles.events import AS_OF, Events, at


def test_neighbours_counted_in_buckets_equal_one_pass_10(store: Store, tmp_path: Path) -> None:
    site_id = "r" + secrets.token_hex(6)
    rng = random.Random(10)
    ev = Events(site_id)
    for n in range(60):
        visitor = secrets.token_hex(16)
        for visit in range(2):
            for product in rng.sample(range(12), 3):
                ev.add(visitor, at(days_before=1 + visit, minutes=n), "product_view", product_id=f"p{product}",
                       rubrique="shoes", session_id=f"{visitor[:8]}-{visit}")
        if n % 5 == 0:
            ev.purchase(visitor, at(days_before=1, minutes=n), f"o{n}", 30.0,
                        items=[(f"p{rng.randrange(12)}", "shoes"), (f"p{rng.randrange(12)}", "bags")])
    ev.insert(store)
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_PROFILES_BUCKETS": "4"})
    plan = plan_buckets(store, settings, site_id, AS_OF)
    assert len(plan) == 4
    whole, bucketed = train(store, site_id, AS_OF), train(store, site_id, AS_OF, plan)
    key = ["product_id", "score", "neighbour"]
    assert whole["reco_neighbours"].height > 0
    assert_frame_equal(bucketed["reco_neighbours"].sort(key), whole["reco_neighbours"].sort(key))
    assert_frame_equal(bucketed["reco_products"].sort("product_id"), whole["reco_products"].sort("product_id"))
