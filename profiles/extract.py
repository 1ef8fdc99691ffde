"""Pull one site's per-visitor and per-person aggregates out of ClickHouse (sql/profiles/*.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

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


def frame(store: Store, name: str, **params: object) -> pl.DataFrame:
    data = pl.from_arrow(store.query_arrow(name, **params))
    if not isinstance(data, pl.DataFrame):
        raise TypeError(f"{name} returned a series")
    # LowCardinality columns arrive as dictionaries: plain strings from here on.
    return data.with_columns(pl.col(pl.Categorical).cast(pl.String))


def extract(store: Store, scope: Scope, session_gap_minutes: int, half_life_days: float) -> ProfileInputs:
    base = {"site_id": scope.site_id, "as_of": scope.as_of}
    visits = frame(store, "profiles/visits", **base, watermark=scope.watermark, full=int(scope.full),
                   session_gap_ms=session_gap_minutes * 60_000, last_visits=LAST_VISITS,
                   recent_products=RECENT_PRODUCTS,
                   half_life_days=half_life_days, **WEIGHTS)
    return ProfileInputs(
        visits=visits.lazy(),
        orders=frame(store, "profiles/orders", **base).lazy(),
        feedback=frame(store, "profiles/feedback", **base).lazy(),
        product_first_seen=frame(store, "profiles/product_first_seen", **base).lazy(),
    )
