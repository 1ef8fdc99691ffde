"""Train the recommender for one site: the catalog with popularity, and item-to-item neighbours.

Runs inside the profiles job (after the profiles, same snapshot), from sql/recommender/*.sql;
a bucketed run counts the co-visited pairs one bucket of visitors at a time.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from fidelia.store import Store
from profiles.extract import Bucket, frame

NOVELTY_DAYS = 30
WINDOW_DAYS = 90
POPULARITY_HALF_LIFE_DAYS = 14.0
NEIGHBOURS = 20


def trained_key(site_id: str) -> str:
    """The meta key holding when the site's model was last trained ('' once the catalog changed)."""
    return f"profiles.trained.{site_id}"


def train(store: Store, site_id: str, as_of: datetime, buckets: list[Bucket] | None = None
          ) -> dict[str, pl.DataFrame]:
    """The model tables for the serving snapshot: `reco_products` and `reco_neighbours` (the
    same with `buckets`, the buckets of visitors of a bucketed run, as without)."""
    base = {"site_id": site_id, "as_of": as_of}
    catalog = frame(store, "recommender/catalog", **base, novelty_days=NOVELTY_DAYS)
    popularity = frame(store, "recommender/popularity", **base, window_days=WINDOW_DAYS,
                       half_life_days=POPULARITY_HALF_LIFE_DAYS)
    products = (
        catalog.join(popularity, on="product_id", how="left")
        .with_columns(pl.col("popularity").fill_null(0.0), pl.col("purchases").fill_null(0).cast(pl.UInt32),
                      pl.lit(site_id).alias("site_id"))
        .select("site_id", "product_id", "name", "rubrique", "price", "url", "in_stock", "is_new", "popularity",
                "purchases")
    )
    return {"reco_products": products, "reco_neighbours": neighbours(store, base, buckets)}


def neighbours(store: Store, base: dict[str, object], buckets: list[Bucket] | None) -> pl.DataFrame:
    """Each product's NEIGHBOURS best co-visited products, best first (ties by id). A bucketed
    run adds up the pairs' scores bucket by bucket: at most the catalog squared in memory."""
    chosen: list[Bucket | None] = list(buckets) if buckets and len(buckets) > 1 else [None]
    pairs = pl.DataFrame(schema={"product_id": pl.String, "neighbour": pl.String, "score": pl.Float64})
    for bucket in chosen:
        part = frame(store, "recommender/covisitation", **base, window_days=WINDOW_DAYS,
                     bucketed=int(bucket is not None), lo=bucket.lo if bucket else "", hi=bucket.hi if bucket else "")
        pairs = pl.concat([pairs, part.select(pairs.columns)]).group_by("product_id", "neighbour").agg(
            pl.col("score").sum())
    return (
        pairs.sort(["product_id", "score", "neighbour"], descending=[False, True, False])
        .group_by("product_id", maintain_order=True).head(NEIGHBOURS)
        .select(pl.lit(base["site_id"]).alias("site_id"), "product_id", "neighbour", "score")
    )
