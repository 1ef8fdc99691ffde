"""Pull one site's per-visitor and per-person aggregates out of ClickHouse (sql/profiles/*.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from fidelia.store import Store
from profiles.build import ProfileInputs
from profiles.interests import WEIGHTS

LAST_VISITS = 5
RECENT_PRODUCTS = 10


@dataclass(frozen=True)
class Scope:
    """Which visitors a run recomputes from events: all (full) or those stored after the watermark
    (the others an incremental run needs come from the snapshot: profiles/changes.py)."""

    site_id: str
    as_of: datetime
    full: bool
    watermark: datetime


def frame(store: Store, name: str, **params: Any) -> pl.DataFrame:
    return as_frame(name, store.query_arrow(name, **params))


def as_frame(name: str, table: pa.Table) -> pl.DataFrame:
    data = pl.from_arrow(table)
    if not isinstance(data, pl.DataFrame):
        raise TypeError(f"{name} returned a series")
    # LowCardinality columns arrive as dictionaries: plain strings from here on.
    return data.with_columns(pl.col(pl.Categorical).cast(pl.String))


@dataclass(frozen=True)
class Bucket:
    """One bucket of a site's visitors: visitor ids in [lo, hi) ('' for hi: no upper bound)."""

    lo: str = ""
    hi: str = ""


def extract_visits(store: Store, scope: Scope, session_gap_minutes: int, half_life_days: float,
                   bucket: Bucket | None = None, with_stored: bool = False) -> pl.DataFrame:
    """Per-visitor visit rows of one bucket of people (all of them without `bucket`): the
    visitors the run recomputes from events, plus with `with_stored` (a bucketed incremental run)
    the stored visit part of those it only rescores. The single-pass incremental run reads
    those from the snapshot instead, and only for the people whose numbers moved
    (profiles/changes.py)."""
    split = {"bucketed": int(bucket is not None), "lo": bucket.lo if bucket else "", "hi": bucket.hi if bucket else ""}
    # An incremental run's visitors are few: their events are kept in memory once rather than
    # re-read for each use in the query (sql/profiles/visits.sql). A full run streams them.
    visits = as_frame("profiles/visits", store.query_arrow(
        "profiles/visits", settings={"enable_materialized_cte": int(not scope.full)},
        site_id=scope.site_id, as_of=scope.as_of, watermark=scope.watermark, full=int(scope.full),
        session_gap_ms=session_gap_minutes * 60_000, last_visits=LAST_VISITS, recent_products=RECENT_PRODUCTS,
        half_life_days=half_life_days, **split, **WEIGHTS))
    if with_stored and not scope.full:
        stored = frame(store, "profiles/stored_visits", site_id=scope.site_id, watermark=scope.watermark, **split)
        visits = pl.concat([visits, stored.select(visits.columns)], how="vertical_relaxed")
    return visits


@dataclass(frozen=True)
class People:
    """Whose orders and feedback a query reads (sql/migrations/0007_profile_people.sql): the whole
    site (part 0), the visitors of a bucket [lo, hi) with every device of their customers (1),
    or the customers without a device whose ids are in [lo, hi) (2)."""

    part: int = 0
    lo: str = ""
    hi: str = ""

    def params(self) -> dict[str, Any]:
        return {"part": self.part, "lo": self.lo, "hi": self.hi}


WHOLE_SITE = People()


def extract_people(store: Store, scope: Scope, people: People, product_first_seen: pl.DataFrame,
                   visits: pl.DataFrame) -> ProfileInputs:
    """The orders and feedback of `people`, beside `visits` (those of the run, of a bucket, or none)."""
    base = {"site_id": scope.site_id, "as_of": scope.as_of, **people.params()}
    return ProfileInputs(
        visits=visits.lazy(),
        orders=frame(store, "profiles/orders", **base).lazy(),
        feedback=frame(store, "profiles/feedback", **base).lazy(),
        product_first_seen=product_first_seen.lazy(),
    )
