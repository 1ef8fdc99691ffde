"""Purchases per person → the loyalty numbers: orders, purchase days, revenue, basket, stage, attrition.

A person is a customer id (a visitor linked by identify, or an imported order's customer) or,
for a buyer who never identified, the visitor id alone. Stages, in the shop's words
(../shared/DOMAIN.md):

- prospect: no purchase yet.
- buyer: purchases on one day.
- repeat_customer: purchases on two days or more.
- supporter: a repeat customer who went beyond the rubriques of their first purchase day, or
  bought a product within NOVELTY_DAYS of its first appearance in the shop.
- ambassador: a customer (one purchase or more) whose latest recommendation answer is a
  promoter's (NPS 9–10), or who brought others (visitors landing with `?ref=<customer id>`).

A customer is lost when their last purchase is more than the attrition window (setting
FIDELIA_ATTRITION_DAYS, 180 days) before the rebuild date.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

NOVELTY_DAYS = 30
DAYS_PER_MONTH = 30.44
STAGES = ("prospect", "buyer", "repeat_customer", "supporter", "ambassador")
PROMOTER_NPS = 9


def purchase_summary(orders: pl.LazyFrame, product_first_seen: pl.LazyFrame) -> pl.LazyFrame:
    """One row per person with a purchase: orders, frequency (purchase days), monetary, first/last
    purchase, and whether they went beyond their first rubriques or tried new products."""
    days = orders.with_columns(pl.col("ts").dt.date().alias("day"))
    first_day = days.group_by("person").agg(pl.col("day").min().alias("first_day"))
    lines = (
        days.join(first_day, on="person")
        .explode(["products", "rubriques"])
        .join(product_first_seen, left_on="products", right_on="product_id", how="left")
    )
    first_rubriques = (
        lines.filter(pl.col("day") == pl.col("first_day"))
        .group_by("person").agg(pl.col("rubriques").drop_nulls().unique().alias("first_rubriques"))
    )
    breadth = (
        lines.join(first_rubriques, on="person", how="left")
        .with_columns(
            (
                (pl.col("day") > pl.col("first_day"))
                & pl.col("rubriques").is_not_null() & (pl.col("rubriques") != "")
                & ~pl.col("rubriques").is_in(pl.col("first_rubriques").fill_null([]))
            ).alias("new_rubrique"),
            (
                (pl.col("ts") - pl.col("first_seen")).dt.total_days().is_between(0, NOVELTY_DAYS)
                & pl.col("first_seen").is_not_null()
            ).alias("new_product"),
        )
        .group_by("person")
        .agg(
            pl.col("new_rubrique").fill_null(False).any().alias("beyond_first_rubriques"),
            pl.col("new_product").fill_null(False).any().alias("tried_new_products"),
        )
    )
    totals = days.group_by("person").agg(
        pl.col("order_id").n_unique().cast(pl.UInt32).alias("orders"),
        pl.col("day").n_unique().cast(pl.UInt32).alias("frequency"),
        pl.col("amount").sum().round(2).alias("monetary"),
        pl.col("ts").min().alias("first_purchase"),
        pl.col("ts").max().alias("last_purchase"),
    )
    return totals.join(breadth, on="person", how="left")


def loyalty(persons: pl.LazyFrame, as_of: datetime, attrition_days: int) -> pl.LazyFrame:
    """Add recency, basket, frequency per month, lost flag and lifecycle stage to a purchase summary
    joined with feedback (nps, referrals)."""
    recency = (pl.lit(as_of) - pl.col("last_purchase")).dt.total_days().cast(pl.Int32)
    tenure_months = ((pl.lit(as_of) - pl.col("first_purchase")).dt.total_days() / DAYS_PER_MONTH).clip(1.0, None)
    buyer = pl.col("orders") > 0
    return persons.with_columns(
        pl.when(buyer).then(recency).alias("recency_days"),
        pl.when(buyer).then((pl.col("monetary") / pl.col("orders")).round(2)).alias("avg_basket"),
        pl.when(buyer).then((pl.col("orders") / tenure_months).round(4)).alias("orders_per_month"),
        (buyer & (recency > attrition_days)).fill_null(False).cast(pl.UInt8).alias("lost"),
        stage_expr().alias("lifecycle_stage"),
    )


def stage_expr() -> pl.Expr:
    promoter = (pl.col("nps").fill_null(0) >= PROMOTER_NPS) | (pl.col("referrals").fill_null(0) > 0)
    engaged = pl.col("beyond_first_rubriques").fill_null(False) | pl.col("tried_new_products").fill_null(False)
    return (
        pl.when(pl.col("orders").fill_null(0) == 0).then(pl.lit("prospect"))
        .when(promoter).then(pl.lit("ambassador"))
        .when(pl.col("frequency") == 1).then(pl.lit("buyer"))
        .when(engaged).then(pl.lit("supporter"))
        .otherwise(pl.lit("repeat_customer"))
    )


def attrition_rate(orders: pl.DataFrame, start: datetime, end: datetime, attrition_days: int
                   ) -> dict[str, float | int | None]:
    """Attrition over [start, end): customers lost in the period / customers at its start.

    A customer is active at a date when they bought within the attrition window before it.
    Customers at the start are those active at `start`; lost are those of them no longer
    active at `end` (no purchase in the window before `end`). Retention is the complement.
    """
    window = pl.duration(days=attrition_days)
    per_person = orders.group_by("person").agg(
        pl.col("ts").filter(pl.col("ts") <= start).max().alias("last_before_start"),
        pl.col("ts").filter(pl.col("ts") <= end).max().alias("last_before_end"),
    )
    active_at_start = per_person.filter(pl.col("last_before_start") > pl.lit(start) - window)
    lost = active_at_start.filter(pl.col("last_before_end") <= pl.lit(end) - window)
    at_start, n_lost = active_at_start.height, lost.height
    rate = n_lost / at_start if at_start else None  # no customers at the start: no rate to speak of
    return {"customers_at_start": at_start, "lost": n_lost, "attrition_rate": rate,
            "retention_rate": None if rate is None else 1 - rate}
