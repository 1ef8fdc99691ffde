"""RFM: how recently, how often and how much each customer buys, scored 1 to 5 within the site.

- Recency: days from the customer's last purchase to the rebuild date (`as_of`).
- Frequency: the number of distinct days with a purchase (two orders on one day count once).
- Monetary: revenue over all their purchases.
Each is scored 1 (worst fifth of the site's customers) to 5 (best fifth) by rank; equal values
share their average rank, so they share a score, and a value nobody can be compared with (a
site's only customer, or everyone alike) sits in the middle, 3. Recency scores the *fewest*
days highest. The segment comes from the recency score
and the mean of the frequency and monetary scores (see SEGMENTS and docs/profiles.md).
Prospects (no purchase) have no RFM.
"""

from __future__ import annotations

import polars as pl

# (segment, recency scores, frequency-monetary scores): first match wins; the grid covers all 25 cells.
SEGMENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (4, 5), (4, 5)),
    ("loyal", (3,), (4, 5)),
    ("potential_loyalist", (4, 5), (2, 3)),
    ("new", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need_attention", (3,), (1, 2, 3)),
    ("cannot_lose", (1, 2), (5,)),
    ("at_risk", (1, 2), (3, 4)),
    ("hibernating", (2,), (1, 2)),
    ("lost", (1,), (1, 2)),
)


def quintile_score(column: str, higher_is_better: bool = True) -> pl.Expr:
    """1–5 by rank among the rows: the best fifth gets 5; equal values get the same score."""
    value = pl.col(column) if higher_is_better else -pl.col(column)
    rank = value.rank(method="average")
    return (1 + ((rank - 0.5) * 5 / pl.len()).floor()).clip(1, 5).cast(pl.UInt8)


def segment_of(r: pl.Expr, fm: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.String)
    for name, rs, fms in reversed(SEGMENTS):
        expr = pl.when(r.is_in(rs) & fm.is_in(fms)).then(pl.lit(name)).otherwise(expr)
    return expr


def score_rfm(customers: pl.LazyFrame) -> pl.LazyFrame:
    """Add rfm_r, rfm_f, rfm_m and rfm_segment to rows with recency_days, frequency, monetary (buyers only)."""
    scored = customers.with_columns(
        quintile_score("recency_days", higher_is_better=False).alias("rfm_r"),
        quintile_score("frequency").alias("rfm_f"),
        quintile_score("monetary").alias("rfm_m"),
    )
    fm = ((pl.col("rfm_f").cast(pl.Int16) + pl.col("rfm_m").cast(pl.Int16) + 1) // 2)
    return scored.with_columns(segment_of(pl.col("rfm_r").cast(pl.Int16), fm).alias("rfm_segment"))
