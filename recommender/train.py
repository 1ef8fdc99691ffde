"""Train the recommender for one site: the catalog with popularity, and item-to-item neighbours.

Runs inside the profiles job (after the profiles, same snapshot), from sql/recommender/*.sql.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from fidelia.store import Store
from profiles.extract import frame

NOVELTY_DAYS = 30
WINDOW_DAYS = 90
POPULARITY_HALF_LIFE_DAYS = 14.0
NEIGHBOURS = 20


def trained_key(site_id: str) -> str:
    """The meta key holding when the site's model was last trained ('' once the catalog changed)."""
    return f"profiles.trained.{site_id}"


def train(store: Store, site_id: str, as_of: datetime) -> dict[str, pl.DataFrame]:
    """The model tables for the serving snapshot: `reco_products` and `reco_neighbours`."""
    base = {"site_id": site_id, "as_of": as_of}
    catalog = frame(store, "recommender/catalog", **base, novelty_days=NOVELTY_DAYS)
    popularity = frame(store, "recommender/popularity", **base, window_days=WINDOW_DAYS,
                       half_life_days=POPULARITY_HALF_LIFE_DAYS)
    neighbours = frame(store, "recommender/covisitation", **base, window_days=WINDOW_DAYS, neighbours=NEIGHBOURS)
    products = (
        catalog.join(popularity, on="product_id", how="left")
        .with_columns(pl.col("popularity").fill_null(0.0), pl.col("purchases").fill_null(0).cast(pl.UInt32),
                      pl.lit(site_id).alias("site_id"))
        .select("site_id", "product_id", "name", "rubrique", "price", "url", "in_stock", "is_new", "popularity",
                "purchases")
    )
    pairs = (
        neighbours.explode("neighbours").drop_nulls("neighbours")
        .select(pl.lit(site_id).alias("site_id"), "product_id",
                pl.col("neighbours").struct.field("neighbour"),
                pl.col("neighbours").struct.field("score").alias("score"))
    )
    return {"reco_products": products, "reco_neighbours": pairs}
