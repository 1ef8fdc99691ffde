"""Customer value: is a customer still alive, how much will they buy, what are they worth.

Two models from Fader, Hardie & Lee (2005), fitted per site by maximum likelihood on every
buyer's purchase history as of the rebuild date:

- BG/NBD ("Counting your customers the easy way"): while alive, a customer buys at their own
  rate λ (gamma-distributed across customers, shape r, scale α); after each repeat purchase
  they may leave for good with their own probability p (beta-distributed, a, b). It gives
  `p_alive`, the chance the customer has not left, and the purchases expected in a horizon.
- Gamma-Gamma ("RFM and CLV: using iso-value curves"): the spend per repeat purchase day
  varies around each customer's own mean, itself gamma-distributed (p, q, v). It gives the
  average spend to expect from a customer, their own history shrunk towards the site's.

`predicted_clv` = expected purchase days in each month of the horizon × expected spend,
discounted monthly: what the customer should bring over the horizon, in today's money.

Conventions of the papers: a purchase day counts once (a day's orders are summed), frequency
`x` = distinct purchase days − 1 (repeat days), recency `t_x` and age `T` in days from the
first purchase day (to the last purchase day, to the rebuild date). Stored parameters use days.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeGuard

import numpy as np
import polars as pl
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from profiles.lifecycle import DAYS_PER_MONTH

log = logging.getLogger(__name__)
BIG = 1e12
LOG_BOUNDS = (-9.0, 12.0)  # every parameter between ~1e-4 and ~1.6e5 (days or money units)
META_KEY = "value.model.{site_id}"
SUMMARY_KEYS = ("x", "t_x", "T")


@dataclass(frozen=True)
class ValueSettings:
    """The knobs of the customer value model (FIDELIA_VALUE_* settings)."""

    horizon_months: int = 12
    monthly_discount: float = 0.01
    min_repeat_customers: int = 30
    refit_hours: float = 24.0


@dataclass(frozen=True)
class BGNBD:
    """Purchase rate λ ~ Gamma(r, α) per day; dropout after a repeat purchase p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    """Spend per purchase day ~ Gamma(p, ν) with ν ~ Gamma(q, v) per customer: mean spend p·v/(q − 1)."""

    p: float
    q: float
    v: float


@dataclass
class ValueModel:
    """What was fitted for one site, and why not when it was not (`status`, `message`)."""

    status: str  # fitted, spend_not_fitted, too_little_data, no_fit
    message: str
    as_of: str
    customers: int
    repeat_customers: int
    horizon_months: int
    monthly_discount: float
    bgnbd: dict[str, float] | None = None
    gamma_gamma: dict[str, float] | None = None
    fit_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ValueModel:
        return cls(**json.loads(text))


@dataclass
class CustomerValue:
    """A site's fitted model and the per-person numbers it gives (empty when not fitted)."""

    model: ValueModel
    scores: pl.DataFrame = field(default_factory=lambda: empty_scores())


def empty_scores() -> pl.DataFrame:
    return pl.DataFrame(schema={"person": pl.String, "p_alive": pl.Float64, "predicted_clv": pl.Float64})


# --- the summary the models read -----------------------------------------------------------------

def value_summary(orders: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """One row per buyer: x (repeat purchase days), t_x (first to last purchase day, days),
    T (first purchase day to the rebuild date, days), m (mean spend per repeat purchase day)."""
    as_of_day = epoch_day(as_of)
    days = (orders.group_by("person", pl.col("ts").dt.epoch("d").alias("day")).agg(pl.col("amount").sum())
            .with_columns(pl.col("day").min().over("person").alias("first_day")))
    return (
        days.group_by("person").agg(
            (pl.len() - 1).cast(pl.Int64).alias("x"),
            (pl.col("day").max() - pl.col("first_day").first()).cast(pl.Int64).alias("t_x"),
            (as_of_day - pl.col("first_day").first()).cast(pl.Int64).alias("T"),
            (pl.col("amount") * (pl.col("day") > pl.col("first_day"))).sum().alias("repeat_spend"),
        )
        .with_columns(pl.when(pl.col("x") > 0).then(pl.col("repeat_spend") / pl.col("x")).alias("m"))
        .drop("repeat_spend")
    )


def epoch_day(as_of: datetime) -> int:
    """The rebuild date as days since 1970 (the day T runs to)."""
    return (as_of.date() - date(1970, 1, 1)).days


# --- BG/NBD ------------------------------------------------------------------------------------------

def bgnbd_log_likelihood(model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Log-likelihood of each (x, t_x, T), in log space throughout (paper, eq. 6)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    # The dropped-after-the-last-purchase term exists only with a repeat purchase (x > 0).
    dropped = np.where(repeat, betaln(a + 1, b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return common + np.logaddexp(alive, dropped)


def p_alive(model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still alive | x, t_x, T) = 1 / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x)) (paper, eq. 13)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    log_odds_dead = (np.log(a) - np.log(b + np.maximum(x, 1) - 1)
                     + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def expected_purchases(model: BGNBD, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Purchase days expected in the next t days for a customer with history (x, t_x, T) (eq. 10)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    # The closed form holds for any a > 0 but is 0/0 at a = 1: step just off it.
    a = a if abs(a - 1) > 1e-6 else 1 + 1e-6
    if t <= 0:
        return np.zeros_like(x, dtype=float)
    z = t / (alpha + T + t)
    tail = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * (1 - tail) * p_alive(model, x, t_x, T)


def bgnbd_gradient(model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """d log-likelihood / d (log r, log α, log a, log b), per row: four rows of per-customer values."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    dropped = np.where(x > 0, betaln(a + 1, b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
    total = np.logaddexp(alive, dropped)
    w_alive, w_dropped = np.exp(alive - total), np.exp(dropped - total)
    psi_abx, psi_ab = digamma(a + b + x), digamma(a + b)
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - w_alive * np.log(alpha + T) - w_dropped * np.log(alpha + t_x))
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dropped / (alpha + t_x))
    d_a = (psi_ab - digamma(a) + w_alive * (digamma(a) - psi_abx) + w_dropped * (digamma(a + 1) - psi_abx))
    d_b = (psi_ab - digamma(b) + w_alive * (digamma(b + x) - psi_abx)
           + w_dropped * (digamma(b + np.maximum(x, 1) - 1) - psi_abx))
    return np.vstack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weight: np.ndarray) -> BGNBD | None:
    """Maximum likelihood over log-parameters with a bounded optimiser and the exact gradient;
    None when it does not converge. `weight` counts the customers sharing each (x, t_x, T)."""
    total = float(weight.sum())

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        model = BGNBD(*np.exp(theta))
        value = -float(np.dot(weight, bgnbd_log_likelihood(model, x, t_x, T))) / total
        return value, -(bgnbd_gradient(model, x, t_x, T) @ weight) / total

    start = np.log([1.0, max(float(np.average(T, weights=weight)), 1.0), 1.0, 1.0])
    return _fit(loss, start, BGNBD)


# --- Gamma-Gamma ---------------------------------------------------------------------------------

def gamma_gamma_log_likelihood(model: GammaGamma, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Log-density of a customer's mean spend m over x repeat purchase days (iso-value paper, eq. 3)."""
    p, q, v = model.p, model.q, model.v
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(x * m + v))


def expected_spend(model: GammaGamma, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Expected spend per purchase day: the customer's own mean weighted against the site's
    p·v/(q−1), the more repeat days the more their own (needs q > 1)."""
    p, q, v = model.p, model.q, model.v
    own = np.where(x > 0, np.nan_to_num(m, nan=0.0).clip(0, None), 0.0)
    return p * (v + x * own) / (p * x + q - 1)


def gamma_gamma_gradient(model: GammaGamma, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """d log-likelihood / d (log p, log q, log v), per customer."""
    p, q, v = model.p, model.q, model.v
    px, log_total = p * x, np.log(x * m + v)
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_total)
    d_q = psi - digamma(q) + np.log(v) - log_total
    d_v = q / v - (px + q) / (x * m + v)
    return np.vstack([d_p * p, d_q * q, d_v * v])


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray) -> GammaGamma | None:
    """Maximum likelihood of the spend model on repeat customers (x > 0, m > 0)."""
    n = float(x.size)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        model = GammaGamma(*np.exp(theta))
        value = -float(gamma_gamma_log_likelihood(model, x, m).sum()) / n
        return value, -gamma_gamma_gradient(model, x, m).sum(axis=1) / n

    return _fit(loss, np.log([2.0, 3.0, max(float(m.mean()), 1e-3)]), GammaGamma)


def _fit(loss: Any, start: np.ndarray, kind: Any) -> Any:
    # Imported here: scipy.optimize costs ~0.3 s to import, and most runs score with a stored fit.
    from scipy.optimize import minimize

    with np.errstate(all="ignore"):  # a trial step may overflow: it is then refused, not fatal
        result = minimize(_finite(loss), start, jac=True, method="L-BFGS-B", bounds=[LOG_BOUNDS] * len(start),
                          options={"maxiter": 500})
    if not result.success or not np.all(np.isfinite(result.x)) or result.fun >= BIG:
        return None
    return kind(*(float(v) for v in np.exp(result.x)))


def _finite(loss: Any) -> Any:
    """A non-finite loss or gradient (overflow far from the optimum) becomes a wall, not a NaN."""
    def guarded(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = loss(theta)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return BIG, np.zeros_like(theta)
        return value, grad

    return guarded


# --- per site -----------------------------------------------------------------------------------------

def customer_value(orders: pl.LazyFrame, as_of: datetime, settings: ValueSettings,
                   prior: ValueModel | None = None) -> CustomerValue:
    """Fit both models on a site's orders as of `as_of` and score every buyer (pure, no I/O).
    With `prior` (an earlier fit of the site), score with its parameters instead of fitting:
    what incremental runs do between fits, so that a customer's numbers move only with their
    own history and the days passing, not with every refit."""
    summary = value_summary(orders, as_of).collect()
    model = prior if scores_with(prior) else fit_value(value_histories(summary), as_of, settings)
    return CustomerValue(model, value_scores(summary, model, settings))


def scores_with(prior: ValueModel | None) -> TypeGuard[ValueModel]:
    """Whether `prior` can score on its own (a fit of the purchase model), rather than a refit."""
    return prior is not None and prior.bgnbd is not None


def value_histories(summary: pl.DataFrame) -> pl.DataFrame:
    """`summary` counted by history: what fit_value reads (sql/profiles/value_histories.sql gives
    the same from the store)."""
    return summary.group_by("x", "t_x", "T", "m").agg(pl.len().cast(pl.UInt32).alias("weight"))


def fit_value(histories: pl.DataFrame, as_of: datetime, settings: ValueSettings) -> ValueModel:
    """Both models fitted on a site's buyers, given as their histories (x, t_x, T, m) and how
    many buyers share each (`weight`): the fit needs the counts, not the buyers, so a site's
    million buyers need not be in memory at once."""
    started = time.perf_counter()
    repeat = histories.filter(pl.col("x") > 0)
    model = ValueModel("no_fit", "", as_of.isoformat(), int(histories["weight"].sum()), int(repeat["weight"].sum()),
                       settings.horizon_months, settings.monthly_discount)
    if model.repeat_customers < settings.min_repeat_customers:
        model.status = "too_little_data"
        model.message = (f"{model.repeat_customers} customers bought on two days or more; the model needs at least "
                         f"{settings.min_repeat_customers} (FIDELIA_VALUE_MIN_REPEAT_CUSTOMERS): p_alive and "
                         "predicted_clv stay empty until then.")
        return model
    triples = histories.group_by(*SUMMARY_KEYS).agg(pl.col("weight").sum()).sort(*SUMMARY_KEYS)
    fitted = fit_bgnbd(*(triples[c].to_numpy().astype(float) for c in (*SUMMARY_KEYS, "weight")))
    if fitted is None:
        model.message = ("the purchase model (BG/NBD) did not converge on this history: p_alive and "
                         "predicted_clv stay empty.")
        return model
    # Scores use the stored (rounded) parameters, so a later run scoring with them agrees.
    model.bgnbd = _rounded(fitted)
    spenders = repeat.filter(pl.col("m") > 0).sort("x", "m")
    count = spenders["weight"].to_numpy()
    spend = (fit_gamma_gamma(*(np.repeat(spenders[c].to_numpy().astype(float), count) for c in ("x", "m")))
             if count.sum() >= settings.min_repeat_customers else None)
    if spend is None or spend.q <= 1.0:
        model.status = "spend_not_fitted"
        model.message = ("p_alive is filled; the spend model (Gamma-Gamma) could not be fitted on the repeat "
                         "purchases' amounts, so predicted_clv stays empty.")
    else:
        model.status, model.message, model.gamma_gamma = "fitted", "", _rounded(spend)
    model.fit_seconds = round(time.perf_counter() - started, 3)
    return model


def value_scores(summary: pl.DataFrame, model: ValueModel, settings: ValueSettings) -> pl.DataFrame:
    """p_alive and predicted_clv of the buyers of `summary` (value_summary) with `model`'s
    parameters; none while the purchase model is not fitted, no CLV without the spend model."""
    if model.bgnbd is None:
        return empty_scores()
    spend = GammaGamma(**model.gamma_gamma) if model.status == "fitted" and model.gamma_gamma else None
    triples = summary.group_by(*SUMMARY_KEYS).agg(pl.len().alias("weight"))
    return score(summary, triples, BGNBD(**model.bgnbd), spend, settings)


def score(summary: pl.DataFrame, triples: pl.DataFrame, bgnbd: BGNBD, spend: GammaGamma | None,
          settings: ValueSettings) -> pl.DataFrame:
    """p_alive and the discounted CLV of every buyer; the purchase model runs once per distinct
    (x, t_x, T), which a million customers share in far fewer combinations."""
    x, t_x, T = (triples[c].to_numpy().astype(float) for c in SUMMARY_KEYS)
    discounted = np.zeros_like(x)
    previous = np.zeros_like(x)
    for month in range(1, settings.horizon_months + 1):
        cumulative = expected_purchases(bgnbd, month * DAYS_PER_MONTH, x, t_x, T)
        discounted += (cumulative - previous) / (1 + settings.monthly_discount) ** month
        previous = cumulative
    per_triple = triples.select(*SUMMARY_KEYS).with_columns(
        pl.Series("p_alive", p_alive(bgnbd, x, t_x, T)), pl.Series("discounted_purchases", discounted))
    scored = summary.join(per_triple, on=list(SUMMARY_KEYS), how="left")
    if spend is None:
        clv = pl.lit(None, dtype=pl.Float64)
    else:
        aov = expected_spend(spend, scored["x"].to_numpy().astype(float), scored["m"].to_numpy().astype(float))
        clv = (pl.col("discounted_purchases") * pl.Series(aov)).round(2)
    # A numerically lost value (extreme parameters) is shown as unknown, never as NaN.
    return scored.select("person", pl.col("p_alive").round(4).fill_nan(None),
                         clv.alias("predicted_clv").fill_nan(None))


def _rounded(params: BGNBD | GammaGamma) -> dict[str, float]:
    return {k: float(f"{v:.6g}") for k, v in asdict(params).items()}


def record_value(store: Any, site_id: str, value: CustomerValue) -> None:
    """Store a new fit for the `customer-value` report (and the runs that score with it); a
    site the model cannot fit logs one line."""
    store.set_meta(META_KEY.format(site_id=site_id), value.model.to_json())
    if value.model.status != "fitted":
        log.info("customer value of %s: %s %s", site_id, value.model.status, value.model.message)


def refit_due(prior: ValueModel | None, settings: ValueSettings, as_of: datetime, incremental: bool) -> bool:
    """Full and back-dated runs fit; an incremental run scores with the last fit while it is
    younger than the setting and was made with the same horizon and discount."""
    return (not incremental or prior is None or prior.bgnbd is None
            or (prior.horizon_months, prior.monthly_discount) != (settings.horizon_months, settings.monthly_discount)
            or as_of - datetime.fromisoformat(prior.as_of) >= timedelta(hours=settings.refit_hours))


def stored_model(store: Any, site_id: str) -> ValueModel | None:
    text = store.get_meta(META_KEY.format(site_id=site_id))
    return ValueModel.from_json(text) if text else None
