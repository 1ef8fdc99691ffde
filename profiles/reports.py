"""The merchandiser reports: one named query each (sql/reports/), shaped here into tables.

Every report takes a site and a period [from, to] (dates, `to` included) and answers rows of
plain values, the same for the API, the command line and the dashboard. Definitions follow
../shared/DOMAIN.md: attrition rate = customers lost in the period / customers at its start;
NPS = % promoters (9–10) − % detractors (0–6); complaint rate = complaints / customers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from fidelia.errors import FideliaError
from fidelia.store import Store
from profiles.extract import WHOLE_SITE, frame
from profiles.lifecycle import STAGES, attrition_rate, loyalty, purchase_summary
from profiles.rfm import SEGMENTS
from profiles.value import stored_model

BUCKETS = ("day", "week", "month")
DEFAULT_DAYS = 30
# ClickHouse's DateTime64 holds 1900-2299; the reports also look back one period (and the attrition
# window) before `from`, so dates and spans stay well inside it: a fuzzer found the edge.
FIRST_DATE, LAST_DATE, MAX_DAYS = date(1990, 1, 1), date(2199, 12, 31), 20 * 366
TOP_LOST = 20
TOP_VALUE = 20
AT_RISK_P_ALIVE = 0.5  # "at risk": best two fifths by spend (RFM m 4–5) and less likely alive than not
AT_RISK_MIN_M = 4
CLV_EDGES = (0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
VALUE_COLUMNS = ("customer", "segment", "orders", "monetary", "recency_days", "p_alive", "predicted_clv")


class InvalidReportParameter(FideliaError):
    """A report parameter (period, bucket, name) cannot be used."""

    status = 400
    code = "invalid_parameter"


class UnknownReport(FideliaError):
    status = 404
    code = "unknown_report"


@dataclass(frozen=True)
class ReportParams:
    site_id: str
    start: datetime  # inclusive
    end: datetime  # exclusive: the day after `to`
    by: str
    limit: int = 50
    attrition_days: int = 180

    @property
    def sql(self) -> dict[str, Any]:
        return {"site_id": self.site_id, "from": self.start, "to": self.end}


@dataclass
class Report:
    name: str
    params: ReportParams
    rows: list[dict[str, Any]]
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-only members (customer-value's `model`)

    def to_json(self) -> dict[str, Any]:
        return {"report": self.name, "site_id": self.params.site_id, "from": self.params.start.date().isoformat(),
                "to": (self.params.end - timedelta(days=1)).date().isoformat(), "by": self.params.by,
                "rows": self.rows, **self.sections, **self.extra}


def parse_params(site_id: str, start: str | None, end: str | None, by: str | None, today: date,
                 attrition_days: int = 180, default_by: str | None = None) -> ReportParams:
    """Check and default the period: `to` defaults to today, `from` to 30 days before `to`."""
    last = _date("to", end) if end else today
    first = _date("from", start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidReportParameter(f"from ({first}) is after to ({last})", field="from")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidReportParameter(f"from {first} to {last} is over {MAX_DAYS} days: ask for a shorter period",
                                     field="from")
    bucket = by or default_by or ("day" if days <= 31 else "week" if days <= 190 else "month")
    if bucket not in BUCKETS:
        raise InvalidReportParameter(f"by {bucket[:16]!r} is not one of {', '.join(BUCKETS)}", field="by")
    begin = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    return ReportParams(site_id, begin, begin + timedelta(days=days), bucket, attrition_days=attrition_days)


def _date(name: str, text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidReportParameter(f"{name} {text[:32]!r} is not a date: use YYYY-MM-DD", field=name) from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidReportParameter(f"{name} {day} is outside {FIRST_DATE} to {LAST_DATE}", field=name)
    return day


def rows_of(data: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in row.items()}
            for row in data.to_dicts()]


def change(current: pl.Expr, previous: pl.Expr) -> pl.Expr:
    """Relative change against the previous period; empty when there was nothing before."""
    # Counts arrive unsigned: a fall would wrap around without the cast.
    return pl.when(previous > 0).then(((current.cast(pl.Float64) - previous) / previous).round(4))


# --- the reports --------------------------------------------------------------------------------

def top_rubriques(store: Store, p: ReportParams) -> Report:
    data = frame(store, "reports/top_rubriques", **p.sql, previous=p.start - (p.end - p.start)).with_columns(
        change(pl.col("pageviews"), pl.col("pageviews_previous")).alias("pageviews_change"),
        change(pl.col("revenue"), pl.col("revenue_previous")).alias("revenue_change"),
        change(pl.col("purchases"), pl.col("purchases_previous")).alias("purchases_change"),
    )
    return Report("top-rubriques", p, rows_of(data))


def visitors(store: Store, p: ReportParams) -> Report:
    return Report("visitors", p, rows_of(frame(store, "reports/visitors", **p.sql, by=p.by)))


def satisfaction(store: Store, p: ReportParams) -> Report:
    return Report("satisfaction", p, rows_of(frame(store, "reports/satisfaction", **p.sql, by=p.by)))


def top_products(store: Store, p: ReportParams) -> Report:
    return Report("top-products", p, rows_of(frame(store, "reports/top_products", **p.sql, limit=p.limit)))


def sources(store: Store, p: ReportParams) -> Report:
    return Report("sources", p, rows_of(frame(store, "reports/sources", **p.sql)))


def buckets(p: ReportParams) -> list[tuple[datetime, datetime]]:
    """The calendar buckets (day, Monday-week, month) that cover the period, cut to it."""
    edges, cursor = [], p.start
    while cursor < p.end:
        if p.by == "day":
            nxt = cursor + timedelta(days=1)
        elif p.by == "week":
            nxt = cursor + timedelta(days=7 - cursor.weekday())
        else:
            nxt = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        edges.append((cursor, min(nxt, p.end)))
        cursor = min(nxt, p.end)
    return edges


def person_orders(store: Store, p: ReportParams) -> pl.DataFrame:
    return frame(store, "reports/person_orders", site_id=p.site_id, to=p.end)


def attrition(store: Store, p: ReportParams) -> Report:
    orders = person_orders(store, p)
    rows = []
    for start, end in buckets(p):
        result = attrition_rate(orders, start, end, p.attrition_days)
        rate, retention = result["attrition_rate"], result["retention_rate"]
        rows.append({"period": start.date().isoformat(), **result,
                     "attrition_rate": None if rate is None else round(rate, 4),
                     "retention_rate": None if retention is None else round(retention, 4)})
    return Report("attrition", p, rows, {"recently_lost": recently_lost(orders, p), "at_risk": at_risk(store, p)})


def recently_lost(orders: pl.DataFrame, p: ReportParams) -> list[dict[str, Any]]:
    """Customers who became lost during the period, most valuable first: who to win back."""
    window = timedelta(days=p.attrition_days)
    per_person = orders.group_by("person").agg(
        pl.col("ts").max().alias("last_purchase"), pl.col("amount").sum().round(2).alias("monetary"),
        pl.col("order_id").n_unique().alias("orders"))
    lost = per_person.filter((pl.col("last_purchase") + window >= p.start) & (pl.col("last_purchase") + window < p.end))
    return rows_of(lost.sort(["monetary", "person"], descending=[True, False]).head(TOP_LOST).with_columns(
        pl.col("person").str.slice(2).alias("customer"), pl.col("last_purchase").dt.date()).drop("person"))


def basket(store: Store, p: ReportParams) -> Report:
    orders = person_orders(store, p).filter(pl.col("ts") >= p.start)
    rows = []
    for start, end in buckets(p):
        part = orders.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
        n, buyers, revenue = part.height, part["person"].n_unique(), round(float(part["amount"].sum()), 2)
        rows.append({"period": start.date().isoformat(), "orders": n, "revenue": revenue, "customers": buyers,
                     "average_basket": round(revenue / n, 2) if n else None,
                     "purchase_frequency": round(n / buyers, 4) if buyers else None})
    # An imported order may come without its lines (items is then empty, not a JSON array).
    items = pl.when(pl.col("items").str.strip_chars() == "").then(pl.lit("[]")).otherwise(pl.col("items"))
    lines = orders.select("order_id", items.alias("items").str.json_decode(
        pl.List(pl.Struct({"rubrique": pl.String, "price": pl.Float64, "quantity": pl.Int64})))).explode("items")
    by_rubrique = (
        lines.drop_nulls("items").unnest("items").filter(pl.col("rubrique").is_not_null() & (pl.col("rubrique") != ""))
        .with_columns((pl.col("price").fill_null(0) * pl.col("quantity").fill_null(1).clip(1, None)).alias("line"))
        .group_by("rubrique").agg(pl.col("order_id").n_unique().alias("orders"), pl.col("line").sum().round(2)
                                  .alias("revenue"))
        .with_columns((pl.col("revenue") / pl.col("orders")).round(2).alias("average_basket"))
        .sort(["revenue", "rubrique"], descending=[True, False])
    ) if orders.height else pl.DataFrame()
    return Report("basket", p, rows, {"by_rubrique": rows_of(by_rubrique)})


def rfm(store: Store, p: ReportParams) -> Report:
    people = frame(store, "reports/segments", site_id=p.site_id).filter(pl.col("orders") > 0)
    total = float(people["monetary"].sum()) if people.height else 0.0
    by_segment = {s: people.filter(pl.col("segment") == s) for s, _, _ in SEGMENTS}
    rows = [{"segment": s, "customers": part.height, "revenue": round(float(part["monetary"].sum()), 2),
             "revenue_share": round(float(part["monetary"].sum()) / total, 4) if total else 0.0,
             "mean_recency_days": _mean(part["recency_days"]), "mean_orders": _mean(part["orders"])}
            for s, part in by_segment.items()]
    grid = (people.with_columns(((pl.col("f").cast(pl.Int16) + pl.col("m").cast(pl.Int16) + 1) // 2).alias("fm"))
            .group_by("r", "fm").agg(pl.len().alias("customers")).sort("r", "fm")) if people.height else pl.DataFrame()
    return Report("rfm", p, rows, {"grid": rows_of(grid), "at_risk": at_risk(store, p)})


def at_risk(store: Store, p: ReportParams) -> list[dict[str, Any]]:
    """High-value customers the value model thinks are slipping away: RFM monetary score 4–5 and
    p_alive under one half, biggest spenders first. Empty while the site's model is not fitted."""
    people = frame(store, "reports/customer_value", site_id=p.site_id)
    risky = people.filter((pl.col("rfm_m") >= AT_RISK_MIN_M) & (pl.col("p_alive") < AT_RISK_P_ALIVE))
    return rows_of(risky.sort(["monetary", "customer"], descending=[True, False]).head(TOP_LOST)
                   .select(VALUE_COLUMNS))


def customer_value(store: Store, p: ReportParams) -> Report:
    """The CLV distribution over the site's buyers, the most valuable ones, and the fitted model
    (as of the latest rebuild; the period does not apply: the model looks at the whole history)."""
    people = frame(store, "reports/customer_value", site_id=p.site_id)
    model = stored_model(store, p.site_id)
    valued = people.filter(pl.col("predicted_clv").is_not_null())
    total = float(valued["predicted_clv"].sum()) if valued.height else 0.0
    rows = []
    for low, high in zip(CLV_EDGES, (*CLV_EDGES[1:], None), strict=True):
        part = valued.filter((pl.col("predicted_clv") >= low) & ((pl.col("predicted_clv") < high) if high else True))
        rows.append({"clv_from": low, "clv_to": high, "customers": part.height,
                     "share": round(part.height / valued.height, 4) if valued.height else 0.0,
                     "predicted_clv": round(float(part["predicted_clv"].sum()), 2)})
    while rows and rows[-1]["customers"] == 0:
        rows.pop()
    top = valued.sort(["predicted_clv", "customer"], descending=[True, False]).head(TOP_VALUE).select(VALUE_COLUMNS)
    described = model.to_dict() if model else {
        "status": "not_fitted", "message": "no profiles rebuild has looked at this site yet: run "
        "`fidelia profiles rebuild`.", "bgnbd": None, "gamma_gamma": None}
    summary = {"buyers": people.height, "valued_customers": valued.height, "total_predicted_clv": round(total, 2),
               "mean_p_alive": _mean(valued["p_alive"]) if valued.height else None}
    parameters = [{"parameter": k, "value": v} for k, v in {**_flat(described), **summary}.items()]
    return Report("customer-value", p, rows, {"top_customers": rows_of(top), "parameters": parameters},
                  {"model": described})


def _flat(model: dict[str, Any]) -> dict[str, Any]:
    """The model as parameter rows: bgnbd.r, …, gamma_gamma.v next to status and counts."""
    flat = {k: v for k, v in model.items() if not isinstance(v, dict) and k not in ("bgnbd", "gamma_gamma")}
    for group in ("bgnbd", "gamma_gamma"):
        flat.update({f"{group}.{k}": v for k, v in (model.get(group) or {}).items()})
    return flat


def lifecycle(store: Store, p: ReportParams) -> Report:
    """Counts per stage at the end of the period, and how people moved between its two ends.

    Orders and product novelty are read once, as of the end, and cut at the start in polars:
    people are keyed the same way at both ends (a visitor who identified during the period is
    one person, not a prospect that vanished and a customer that appeared). Feedback (NPS,
    referrals) for both ends comes from one query.
    """
    orders = frame(store, "profiles/orders", site_id=p.site_id, as_of=p.end, **WHOLE_SITE.params())
    first_seen = frame(store, "profiles/product_first_seen", site_id=p.site_id, as_of=p.end).lazy()
    feedback = frame(store, "reports/lifecycle_feedback", site_id=p.site_id, start=p.start, to=p.end)

    at_end = purchase_summary(orders.lazy(), first_seen).collect()
    at_start = summary_at_start(orders, at_end, first_seen, p.start)

    def stages(summary: pl.DataFrame, when: datetime, at: str) -> pl.LazyFrame:
        # Only people with a purchase can have a stage other than prospect: feedback joins them.
        people = summary.lazy().join(feedback.lazy().filter(pl.col("at") == at).drop("at"), on="person", how="left")
        return loyalty(people, when, p.attrition_days).select("person", "lifecycle_stage")

    before, after = pl.collect_all([stages(at_start, p.start, "start"), stages(at_end, p.end, "end")])
    prospects = frame(store, "reports/prospects", site_id=p.site_id, to=p.end)["prospects"][0]
    counts = after.group_by("lifecycle_stage").len()
    count_of = dict(zip(counts["lifecycle_stage"], counts["len"], strict=True))
    rows = [{"stage": s, "count": int(prospects if s == "prospect" else count_of.get(s, 0))} for s in STAGES]
    moves = (after.join(before, on="person", how="left", suffix="_before")
             .with_columns(pl.col("lifecycle_stage_before").fill_null("prospect"))
             .filter(pl.col("lifecycle_stage") != pl.col("lifecycle_stage_before"))
             .group_by(pl.col("lifecycle_stage_before").alias("from_stage"),
                       pl.col("lifecycle_stage").alias("to_stage"))
             .len().rename({"len": "people"})
             .sort(["people", "from_stage", "to_stage"], descending=[True, False, False]))
    return Report("lifecycle", p, rows, {"transitions": rows_of(moves)})


def summary_at_start(orders: pl.DataFrame, at_end: pl.DataFrame, first_seen: pl.LazyFrame,
                     start: datetime) -> pl.DataFrame:
    """The purchase summary as of `start`, from the one as of the end: a person whose purchases
    all came by `start` has the same summary at both ends, so only those who bought on both
    sides of it are summed again, over their purchases up to `start`."""
    settled = at_end.filter(pl.col("last_purchase") <= start)
    both_sides = at_end.filter((pl.col("first_purchase") <= start) & (pl.col("last_purchase") > start)).select("person")
    again = purchase_summary(orders.filter(pl.col("ts") <= start).join(both_sides, on="person").lazy(), first_seen)
    return pl.concat([settled, again.collect()], how="vertical_relaxed")


def recommendations(store: Store, p: ReportParams) -> Report:
    """Personalised offers against the holdout: click-through and conversion with 95% intervals."""
    data = frame(store, "reports/recommendations", **p.sql)
    rows = []
    for row in data.to_dicts():
        ctr_low, ctr_high = wilson(row["clicks"], row["impressions"])
        conv_low, conv_high = wilson(row["visits_converted"], row["visits_with_offer"])
        rows.append({**row, "ctr": _ratio(row["clicks"], row["impressions"]), "ctr_low": ctr_low, "ctr_high": ctr_high,
                     "conversion": _ratio(row["visits_converted"], row["visits_with_offer"]),
                     "conversion_low": conv_low, "conversion_high": conv_high})
    return Report("recommendations", p, rows)


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion: sound even for small counts and 0 or 100%."""
    if trials <= 0:
        return None, None
    rate = min(successes, trials) / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _mean(series: pl.Series) -> float | None:
    value = series.mean()
    return round(float(value), 2) if value is not None else None  # type: ignore[arg-type]


REPORTS: dict[str, Callable[[Store, ReportParams], Report]] = {
    "top-rubriques": top_rubriques, "visitors": visitors, "attrition": attrition, "basket": basket,
    "frequency": basket, "rfm": rfm, "lifecycle": lifecycle, "satisfaction": satisfaction,
    "top-products": top_products, "sources": sources, "recommendations": recommendations,
    "customer-value": customer_value,
}
DEFAULT_BUCKET = {"attrition": "month", "basket": "month", "frequency": "month"}


def run_report(store: Store, name: str, params: ReportParams) -> Report:
    builder = REPORTS.get(name)
    if builder is None:
        raise UnknownReport(f"no report named {name[:40]!r}; reports: {', '.join(REPORTS)}", field="name")
    report = builder(store, params)
    report.name = name
    return report
