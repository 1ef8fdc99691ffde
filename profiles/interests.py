"""Interest rubriques: what a visitor's behaviour says they care about.

Each signal on a rubrique adds its weight — a page view counts 1, a product view 2, an add to
cart 4, a purchased item 8 — and halves every FIDELIA_INTEREST_HALF_LIFE_DAYS. Scores are as
of the visitor's last visit: all of a visitor's scores fade alike after it, so their ranking
(what the offer uses) holds until they come back. Bots are excluded. The aggregation runs in
ClickHouse (sql/profiles/visits.sql); this module holds the weights and merges the interests
of a customer's devices.
"""

from __future__ import annotations

import polars as pl

WEIGHTS = {"w_pageview": 1.0, "w_product_view": 2.0, "w_add_to_cart": 4.0, "w_purchase": 8.0}
INTEREST = pl.List(pl.Struct({"rubrique": pl.String, "score": pl.Float64}))
TOP_INTERESTS = 10


def merge_interests(visitors: pl.LazyFrame, half_life_days: float) -> pl.LazyFrame:
    """One interest list per customer: each device's scores brought to the customer's last visit, summed.

    Takes rows of (customer_id, last_seen, interests JSON) and returns (customer_id, interests JSON).
    """
    decay_days = (pl.col("customer_last_seen") - pl.col("last_seen")).dt.total_seconds() / 86400
    return (
        visitors.with_columns(
            pl.col("interests").str.json_decode(INTEREST),
            pl.col("last_seen").max().over("customer_id").alias("customer_last_seen"),
        )
        .explode("interests")
        .drop_nulls("interests")
        .unnest("interests")
        .with_columns((pl.col("score") * (2 ** (-decay_days / half_life_days))).alias("score"))
        .group_by("customer_id", "rubrique")
        .agg(pl.col("score").sum().round(6))
        .sort(["customer_id", "score", "rubrique"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .agg(pl.struct("rubrique", "score").head(TOP_INTERESTS).alias("interests"))
        .with_columns(pl.col("interests").cast(INTEREST))
        .with_columns(encode_json_list("interests"))
    )


def encode_json_list(column: str) -> pl.Expr:
    """A list of structs as a JSON array string (what the profile tables store)."""
    return pl.struct(pl.col(column).alias("x")).struct.json_encode().str.slice(5).str.head(-1).alias(column)
