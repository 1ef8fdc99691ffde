"""Back-test of the customer value model: fit as of a date, predict the next period, compare.

    .venv/bin/python -m loadtests.value_backtest --visitors 20000 --days 150 --holdout 30 --seed 1

1. `fidelia simulate --visitors N --days D --seed S` (bulk) into a fresh embedded store;
2. `fidelia profiles rebuild --as-of CUT`, CUT = `--holdout` days before today: the model is
   fitted on the purchases up to CUT only, as a shop back-testing would;
3. for every customer who had bought by CUT: purchase days the stored model predicts in the
   `--holdout` days after CUT, against the purchase days that actually followed (same orders
   query as the job: tracked and imported, each order once).
Also, as a control where the model's assumptions hold exactly, the same comparison on customers
drawn from known BG/NBD parameters (loadtests/value_sim.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fidelia.store import Store
from loadtests.value_sim import simulate_orders
from profiles.extract import WHOLE_SITE, frame
from profiles.value import (
    BGNBD,
    GammaGamma,
    ValueSettings,
    customer_value,
    expected_purchases,
    stored_model,
    value_summary,
)

SITE = "demo"


def compare(history: pl.DataFrame, future: pl.DataFrame, model: BGNBD, cut: datetime, holdout: int
            ) -> dict[str, Any]:
    """Predicted vs actual purchase days in (cut, cut + holdout], overall and by past frequency."""
    summary = value_summary(history.lazy(), cut).collect()
    x, t_x, T = (summary[c].to_numpy().astype(float) for c in ("x", "t_x", "T"))
    predicted = expected_purchases(model, float(holdout), x, t_x, T)
    actual = (future.filter(pl.col("person").is_in(summary["person"].implode()))
              .group_by("person").agg(pl.col("ts").dt.date().n_unique().alias("actual")))
    table = (summary.with_columns(pl.Series("predicted", predicted))
             .join(actual, on="person", how="left").with_columns(pl.col("actual").fill_null(0)))
    groups = (table.with_columns(pl.col("x").clip(0, 4).alias("group"))
              .group_by("group").agg(pl.len().alias("customers"), pl.col("predicted").mean().round(4),
                                     pl.col("actual").mean().round(4)).sort("group"))
    total_p, total_a = float(table["predicted"].sum()), int(table["actual"].sum())
    return {"customers": table.height, "predicted": round(total_p, 1), "actual": total_a,
            "error": round((total_p - total_a) / total_a, 4) if total_a else None,
            "mae": round(float((table["predicted"] - table["actual"]).abs().mean()), 4),
            "correlation": round(float(np.corrcoef(table["predicted"], table["actual"])[0, 1]), 4),
            "by_repeat_days": groups.to_dicts()}


def simulator_backtest(visitors: int, days: int, holdout: int, seed: int) -> dict[str, Any]:
    """The shop simulator through the real CLI, fitted as of CUT by `profiles rebuild --as-of`."""
    cut_day = date.today() - timedelta(days=holdout)
    cut = datetime.combine(cut_day, time(23, 59, 59, 999000), tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="fidelia-value-backtest-") as tmp:
        dsn = f"chdb://{Path(tmp) / 'clickhouse'}"
        env = {**os.environ, "FIDELIA_DATA_DIR": tmp, "FIDELIA_CLICKHOUSE_DSN": dsn, "FIDELIA_LOG_LEVEL": "warning"}
        fidelia = [sys.executable, "-m", "fidelia.cli"]
        for step in (["simulate", "--visitors", str(visitors), "--days", str(days), "--seed", str(seed)],
                     ["profiles", "rebuild", "--as-of", cut_day.isoformat()]):
            done = subprocess.run([*fidelia, *step], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"fidelia {' '.join(step)} failed: {done.stderr.strip()[-400:]}")
        store = Store(dsn)
        try:
            fitted = stored_model(store, SITE)
            orders = frame(store, "profiles/orders", site_id=SITE, as_of=datetime.now(UTC), **WHOLE_SITE.params())
        finally:
            store.close()
    if fitted is None or fitted.bgnbd is None:
        return {"status": None if fitted is None else fitted.status,
                "message": None if fitted is None else fitted.message}
    orders = orders.select("person", "ts", "amount")
    result = compare(orders.filter(pl.col("ts") <= cut), orders.filter(pl.col("ts") > cut), BGNBD(**fitted.bgnbd),
                     cut, holdout)
    return {"cut": cut_day.isoformat(), "model": fitted.bgnbd, "repeat_customers": fitted.repeat_customers, **result}


def control_backtest(customers: int, holdout: int, seed: int) -> dict[str, Any]:
    """Customers drawn from known parameters: the model's own world, fitted by the same code."""
    as_of = datetime(2026, 6, 30, 23, 59, tzinfo=UTC)
    shop = simulate_orders(customers, BGNBD(0.6, 20.0, 1.5, 3.0), GammaGamma(6.0, 4.0, 15.0), as_of=as_of,
                           max_age_days=365, future_days=holdout, seed=seed)
    fitted = customer_value(shop.history.lazy(), as_of, ValueSettings()).model
    if fitted.bgnbd is None:
        return {"status": fitted.status}
    return {"model": fitted.bgnbd, **compare(shop.history, shop.future, BGNBD(**fitted.bgnbd), as_of, holdout)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--holdout", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--control-customers", type=int, default=50_000)
    args = parser.parse_args()
    if args.visitors < 100 or not 0 < args.holdout < args.days:
        parser.error("--visitors must be at least 100 and --holdout between 1 and --days − 1")
    print(json.dumps({"simulator": simulator_backtest(args.visitors, args.days, args.holdout, args.seed),
                      "control": control_backtest(args.control_customers, args.holdout, args.seed)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
