"""Customers drawn from known BG/NBD and Gamma-Gamma parameters, as orders, for the value tests,
the parameter-recovery check and the 1M-customer benchmark.

Each customer makes a first purchase somewhere in the `max_age_days` before `as_of`, then buys
as a Poisson process of rate λ ~ Gamma(r, α) per day and, after each repeat purchase, leaves
for good with probability p ~ Beta(a, b). Each purchase spends z ~ Gamma(p, ν), with the
customer's ν ~ Gamma(q, v). Purchases go on after `as_of` until `as_of + future_days`, so a
back-test can compare what the model predicts with what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from profiles.value import BGNBD, GammaGamma

DAY_MS = 86_400_000


@dataclass(frozen=True)
class SimulatedShop:
    history: pl.DataFrame  # person, ts, amount: orders up to as_of
    future: pl.DataFrame  # the same after as_of
    as_of: datetime


def simulate_orders(customers: int, bgnbd: BGNBD, spend: GammaGamma, *, as_of: datetime, max_age_days: int = 365,
                    future_days: int = 0, seed: int = 0) -> SimulatedShop:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(bgnbd.r, 1 / bgnbd.alpha, customers)
    drop = rng.beta(bgnbd.a, bgnbd.b, customers)
    nu = rng.gamma(spend.q, 1 / spend.v, customers)
    # Day 0 starts at midnight of the as_of day; first purchases fall on whole days before it
    # (at a random hour), so the age T of a customer is exactly their day count.
    day0 = datetime.combine(as_of.date(), datetime.min.time(), tzinfo=UTC)
    age = rng.integers(0, max_age_days, customers).astype(float)
    people, times = [np.arange(customers)], [-age + rng.uniform(0.3, 0.7, customers)]
    clock, alive, horizon = times[0].copy(), np.ones(customers, dtype=bool), 1.0 + future_days
    while alive.any():
        index = np.flatnonzero(alive)
        clock[index] += rng.exponential(1 / rate[index])
        bought = index[clock[index] < horizon]
        people.append(bought)
        times.append(clock[bought])
        alive[:] = False
        alive[bought] = rng.uniform(size=bought.size) >= drop[bought]
    person = np.concatenate(people)
    amount = rng.gamma(spend.p, 1 / nu[person])
    ts_ms = int(day0.timestamp() * 1000) + np.floor(np.concatenate(times) * DAY_MS).astype(np.int64)
    orders = pl.DataFrame({"person": person, "ts": ts_ms, "amount": np.round(amount, 2)}).with_columns(
        pl.format("c:{}", pl.col("person")).alias("person"),
        pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
    )
    cut = day0 + timedelta(days=1)
    return SimulatedShop(orders.filter(pl.col("ts") < cut), orders.filter(pl.col("ts") >= cut), as_of)
