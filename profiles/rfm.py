"""RFM: how recently, how often and how much each customer buys, scored 1 to 5 within the site.

- Recency: days from the customer's last purchase to the rebuild date (`as_of`).
- Frequency: the number of distinct days with a purchase (two orders on one day count once).
- Monetary: revenue over all their purchases.
Each is scored 1 (worst fifth of the site's customers) to 5 (best fifth) by rank; equal values
share their average rank, so they share a score, and a value nobody can be compared with (a
site's only customer, or everyone alike) sits in the middle, 3. Recency scores the *fewest*
days highest. The ranks are taken once over the whole site, in the store
(sql/profiles/rfm_cuts.sql), as the lowest value of each score: a score only grows with the
value, so the cut points score any of the site's buyers, bucket by bucket, as their rank would.
The segment comes from the recency score
and the mean of the frequency and monetary scores (see SEGMENTS and docs/profiles.md).
Prospects (no purchase) have no RFM.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class RfmCuts:
    """Per dimension (r, f, m), the lowest key of each score above 1, ascending: a buyer scores 1
    plus the cut points their key reaches (the key is minus the days for recency)."""

    r: tuple[float, ...] = ()
    f: tuple[float, ...] = ()
    m: tuple[float, ...] = ()

    @classmethod
    def from_rows(cls, rows: list[tuple[str, int, float]]) -> RfmCuts:
        """From sql/profiles/rfm_cuts.sql's (dimension, score, lowest) rows. A score no value gets
        (two buyers score 2 and 4) has the cut point of the next score that is given."""
        cuts: dict[str, tuple[float, ...]] = {}
        for dimension in ("r", "f", "m"):
            lowest = {score: key for d, score, key in rows if d == dimension}
            cuts[dimension] = tuple(min(key for score, key in lowest.items() if score >= k)
                                    for k in range(2, 6) if any(score >= k for score in lowest))
        return cls(**cuts)


def cut_score(key: pl.Expr, cuts: tuple[float, ...]) -> pl.Expr:
    """1 to 5: one plus the cut points `key` is at or above."""
    reached = [(key >= cut).cast(pl.UInt8) for cut in cuts]
    return pl.sum_horizontal(pl.lit(1, pl.UInt8), *reached).cast(pl.UInt8)


def segment_of(r: pl.Expr, fm: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.String)
    for name, rs, fms in reversed(SEGMENTS):
        expr = pl.when(r.is_in(rs) & fm.is_in(fms)).then(pl.lit(name)).otherwise(expr)
    return expr


def score_rfm(customers: pl.LazyFrame, cuts: RfmCuts) -> pl.LazyFrame:
    """Add rfm_r, rfm_f, rfm_m and rfm_segment to rows with recency_days, frequency, monetary
    (buyers of the site only: the cut points come from all of them)."""
    scored = customers.with_columns(
        cut_score(-pl.col("recency_days").cast(pl.Float64), cuts.r).alias("rfm_r"),
        cut_score(pl.col("frequency").cast(pl.Float64), cuts.f).alias("rfm_f"),
        cut_score(pl.col("monetary"), cuts.m).alias("rfm_m"),
    )
    fm = ((pl.col("rfm_f").cast(pl.Int16) + pl.col("rfm_m").cast(pl.Int16) + 1) // 2)
    return scored.with_columns(segment_of(pl.col("rfm_r").cast(pl.Int16), fm).alias("rfm_segment"))
