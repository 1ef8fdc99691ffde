"""Customer value fit on a million synthetic customers drawn from known parameters.

    .venv/bin/python -m loadtests.value_bench --customers 1000000 --repeat 3

Draws the customers' orders once (loadtests/value_sim.py), then `--repeat` times runs what a
rebuild runs for a site, `profiles.value.customer_value`: the per-customer summary (distinct
purchase days, recency, age, mean repeat spend), the BG/NBD and Gamma-Gamma fits, and the
scores of every customer (p_alive, 12-month discounted CLV). Prints the median of each stage
and the fitted parameters next to the true ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime

import numpy as np
import polars as pl

from loadtests.value_sim import simulate_orders
from profiles.value import (
    BGNBD,
    SUMMARY_KEYS,
    GammaGamma,
    ValueSettings,
    fit_bgnbd,
    fit_gamma_gamma,
    score,
    value_summary,
)

TRUE_BGNBD = BGNBD(r=0.6, alpha=20.0, a=1.5, b=3.0)
TRUE_SPEND = GammaGamma(p=6.0, q=4.0, v=15.0)
AS_OF = datetime(2026, 6, 30, 23, 59, tzinfo=UTC)


def run_once(orders: pl.DataFrame) -> tuple[dict[str, float], BGNBD | None, GammaGamma | None]:
    """One rebuild's worth of customer value work, stage by stage (the steps of customer_value)."""
    times: dict[str, float] = {}
    started = time.perf_counter()
    summary = value_summary(orders.lazy(), AS_OF).collect()
    triples = summary.group_by(*SUMMARY_KEYS).agg(pl.len().alias("weight"))
    times["summary_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    x, t_x, T, w = (triples[c].to_numpy().astype(float) for c in (*SUMMARY_KEYS, "weight"))
    bgnbd = fit_bgnbd(x, t_x, T, w)
    times["bgnbd_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    spenders = summary.filter((pl.col("x") > 0) & (pl.col("m") > 0))
    spend = fit_gamma_gamma(spenders["x"].to_numpy().astype(float), spenders["m"].to_numpy().astype(float))
    times["gamma_gamma_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if bgnbd is not None:
        score(summary, triples, bgnbd, spend, ValueSettings())
    times["score_s"] = time.perf_counter() - mark
    times["total_s"] = time.perf_counter() - started
    times["distinct_triples"] = triples.height
    return times, bgnbd, spend


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.customers < 1000 or args.repeat <= 0:
        parser.error("--customers must be at least 1000 and --repeat above 0")
    started = time.perf_counter()
    orders = simulate_orders(args.customers, TRUE_BGNBD, TRUE_SPEND, as_of=AS_OF, max_age_days=365,
                             seed=args.seed).history
    print(f"{args.customers:,} customers, {orders.height:,} orders drawn in {time.perf_counter() - started:.1f} s")
    runs = [run_once(orders) for _ in range(args.repeat)]
    medians = {k: round(statistics.median(r[0][k] for r in runs), 2) for k in runs[0][0]}
    _, bgnbd, spend = runs[-1]
    print(f"median of {args.repeat} runs (s): " + ", ".join(f"{k} {v}" for k, v in medians.items()))
    for name, true, fitted in (("BG/NBD", TRUE_BGNBD, bgnbd), ("Gamma-Gamma", TRUE_SPEND, spend)):
        if fitted is None:
            print(f"{name}: did not converge")
            continue
        pairs = {k: (v, getattr(fitted, k)) for k, v in vars(true).items()}
        print(f"{name}: " + ", ".join(f"{k} {t:g} → {f:.4g} ({(f - t) / t:+.1%})" for k, (t, f) in pairs.items()))
    print(json.dumps({"customers": args.customers, "orders": orders.height, **medians,
                      "bgnbd": None if bgnbd is None else {k: round(v, 4) for k, v in vars(bgnbd).items()},
                      "gamma_gamma": None if spend is None else {k: round(v, 4) for k, v in vars(spend).items()},
                      "max_rel_error": _max_error(bgnbd, spend)}))
    return 0


def _max_error(bgnbd: BGNBD | None, spend: GammaGamma | None) -> float | None:
    if bgnbd is None or spend is None:
        return None
    errors = [abs(getattr(fit, k) - v) / v for true, fit in ((TRUE_BGNBD, bgnbd), (TRUE_SPEND, spend))
              for k, v in vars(true).items()]
    return round(float(np.max(errors)), 4)


if __name__ == "__main__":
    sys.exit(main())
