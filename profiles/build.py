"""Assemble visitor and customer profiles from the extracted inputs (pure polars, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from profiles.interests import encode_json_list, merge_interests
from profiles.lifecycle import loyalty, purchase_summary
from profiles.rfm import RfmCuts, score_rfm

LAST_VISITS = 5
MAX_PURCHASED = 50
LAST_VISIT = pl.List(pl.Struct({"start": pl.String, "pages": pl.Int64, "rubriques": pl.List(pl.String)}))
LOYALTY_COLUMNS = [
    "purchased_products", "recency_days", "frequency", "monetary", "orders", "avg_basket", "orders_per_month",
    "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "lifecycle_stage", "lost", "p_alive", "predicted_clv",
    "satisfaction", "satisfaction_mean", "nps", "complaints",
]
VISIT_COLUMNS = ["first_seen", "last_seen", "visits", "pageviews", "returning", "last_visits", "interests",
                 "recent_products"]
VISITOR_COLUMNS = ["site_id", "visitor_id", "customer_id", *VISIT_COLUMNS, *LOYALTY_COLUMNS, "as_of", "updated_at"]
CUSTOMER_COLUMNS = ["site_id", "customer_id", "visitor_ids", *VISIT_COLUMNS, *LOYALTY_COLUMNS, "as_of", "updated_at"]


@dataclass(frozen=True)
class ProfileInputs:
    """What the job pulled from ClickHouse for one site."""

    visits: pl.LazyFrame  # visitor_id, customer_id, first_seen, last_seen, visits, pageviews, last_visits, interests
    orders: pl.LazyFrame  # person, order_id, ts, amount, products, rubriques
    feedback: pl.LazyFrame  # person, satisfaction, satisfaction_mean, nps, complaints, referrals
    product_first_seen: pl.LazyFrame  # product_id, first_seen


def person_key(customer: pl.Expr, visitor: pl.Expr) -> pl.Expr:
    return pl.when(customer != "").then(pl.lit("c:") + customer).otherwise(pl.lit("v:") + visitor)


def build_persons(inputs: ProfileInputs, as_of: datetime, attrition_days: int, cuts: RfmCuts,
                  value: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Loyalty numbers per person: purchases, RFM (against the whole site's `cuts`), stage,
    attrition, satisfaction, and the customer value (`value`: person, p_alive, predicted_clv from
    profiles/value.py; empty when not fitted)."""
    summary = purchase_summary(inputs.orders, inputs.product_first_seen)
    persons = (
        summary.join(inputs.feedback, on="person", how="full", coalesce=True)
        .with_columns(
            pl.col("orders").fill_null(0), pl.col("frequency").fill_null(0), pl.col("monetary").fill_null(0.0),
            pl.col("complaints").fill_null(0).cast(pl.UInt32),
        )
        .pipe(loyalty, as_of, attrition_days)
    )
    purchased = (
        inputs.orders.select("person", "ts", "products").explode("products").drop_nulls("products")
        .group_by("person", "products").agg(pl.col("ts").max().dt.strftime("%Y-%m-%d %H:%M:%S").alias("at"))
        .sort(["person", "at", "products"], descending=[False, True, False])
        .group_by("person", maintain_order=True)
        .agg(pl.struct(pl.col("products").alias("product_id"), "at").head(MAX_PURCHASED).alias("purchased_products"))
        .with_columns(encode_json_list("purchased_products"))
    )
    persons = persons.join(purchased, on="person", how="left")
    buyers = (score_rfm(persons.filter(pl.col("orders") > 0), cuts)
              .select("person", "rfm_r", "rfm_f", "rfm_m", "rfm_segment"))
    if value is None:
        value = pl.LazyFrame(schema={"person": pl.String, "p_alive": pl.Float64, "predicted_clv": pl.Float64})
    return (persons.join(buyers, on="person", how="left").with_columns(pl.col("rfm_segment").fill_null(""))
            .join(value.select("person", "p_alive", "predicted_clv"), on="person", how="left"))


def with_person_defaults(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(
        pl.col("frequency").fill_null(0).cast(pl.UInt32), pl.col("monetary").fill_null(0.0),
        pl.col("orders").fill_null(0).cast(pl.UInt32), pl.col("lost").fill_null(0).cast(pl.UInt8),
        pl.col("complaints").fill_null(0).cast(pl.UInt32), pl.col("rfm_segment").fill_null(""),
        pl.col("lifecycle_stage").fill_null("prospect"), pl.col("purchased_products").fill_null("[]"),
    )


def build_visitor_profiles(visits: pl.LazyFrame, persons: pl.LazyFrame, site_id: str, as_of: datetime,
                           updated_at: datetime) -> pl.LazyFrame:
    """One profile per visitor: their own visits and interests, their person's loyalty numbers."""
    return (
        visits.with_columns(person_key(pl.col("customer_id"), pl.col("visitor_id")).alias("person"))
        .join(persons, on="person", how="left")
        .pipe(with_person_defaults)
        .with_columns(
            pl.lit(site_id).alias("site_id"),
            (pl.col("visits") > 1).cast(pl.UInt8).alias("returning"),
            pl.lit(as_of).alias("as_of"),
            pl.lit(updated_at).alias("updated_at"),
        )
        .select(VISITOR_COLUMNS)
    )


def build_customer_profiles(visits: pl.LazyFrame, persons: pl.LazyFrame, site_id: str, as_of: datetime,
                            updated_at: datetime, half_life_days: float) -> pl.LazyFrame:
    """One profile per identified customer, across their devices (and orders with no device)."""
    linked = visits.filter(pl.col("customer_id") != "")
    activity = linked.group_by("customer_id").agg(
        pl.col("visitor_id").sort().alias("visitor_ids"),
        pl.col("first_seen").min(), pl.col("last_seen").max(),
        pl.col("visits").sum().cast(pl.UInt32), pl.col("pageviews").sum().cast(pl.UInt32),
    )
    last_visits = (
        linked.select("customer_id", pl.col("last_visits").str.json_decode(LAST_VISIT))
        .explode("last_visits").drop_nulls("last_visits")
        .sort(["customer_id", pl.col("last_visits").struct.field("start")], descending=[False, True])
        .group_by("customer_id", maintain_order=True)
        .agg(pl.col("last_visits").head(LAST_VISITS))
        .with_columns(encode_json_list("last_visits"))
    )
    interests = merge_interests(linked.select("customer_id", "last_seen", "interests"), half_life_days)
    recent = (
        linked.select("customer_id", "last_seen", "recent_products").sort("last_seen", descending=True)
        .group_by("customer_id", maintain_order=True)
        .agg(pl.col("recent_products").list.explode(keep_nulls=False, empty_as_null=False)
             .unique(maintain_order=True).head(10))
    )
    customers = persons.filter(pl.col("person").str.starts_with("c:")).with_columns(
        pl.col("person").str.slice(2).alias("customer_id"))
    return (
        activity.join(customers, on="customer_id", how="full", coalesce=True)
        .join(last_visits, on="customer_id", how="left")
        .join(interests, on="customer_id", how="left")
        .join(recent, on="customer_id", how="left")
        .pipe(with_person_defaults)
        .with_columns(
            pl.lit(site_id).alias("site_id"),
            pl.col("visitor_ids").fill_null([]),
            pl.col("visits").fill_null(0), pl.col("pageviews").fill_null(0),
            (pl.col("visits").fill_null(0) > 1).cast(pl.UInt8).alias("returning"),
            pl.col("last_visits").fill_null("[]"), pl.col("interests").fill_null("[]"),
            pl.col("recent_products").fill_null([]),
            pl.lit(as_of).alias("as_of"),
            pl.lit(updated_at).alias("updated_at"),
        )
        .select(CUSTOMER_COLUMNS)
    )


def to_millis(frame: pl.DataFrame) -> pl.DataFrame:
    """ClickHouse's DateTime64(3) columns take millisecond timestamps."""
    return frame.with_columns(pl.col(pl.Datetime).dt.cast_time_unit("ms"))
