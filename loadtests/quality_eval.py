"""Quality against the simulator's ground truth: interest precision and the recommender offline.

    .venv/bin/python -m loadtests.quality_eval --visitors 20000 --days 60 --seed 1

- Interest precision: for visitors with at least 5 page views, the share of the profile's top-k
  interest rubriques that are among the visitor's true core rubriques, k = min(3, number of
  core rubriques); averaged over visitors (goal >= 0.8).
- Recommender, time split: profiles and model rebuilt as of `--split-days` before the end; for
  visitors with a profile then and products viewed or bought after it (products they had not
  seen before the split), hit rate@10 (any of them in the 10 offered) and NDCG@10, for the
  personalised offer and for the popularity baseline (the holdout strategy), same filters.
  Goal: personalised hit rate@10 >= 1.5 x the baseline's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from fidelia.settings import Settings
from fidelia.store import Store, load_sql
from profiles.job import rebuild_profiles
from profiles.snapshot import reading
from recommender.rank import Context, recommend
from recommender.serving import SnapshotReader, visitor_view

SITE = "demo"
K = 10


def interest_precision(snapshot: Path, truth: Path) -> tuple[float, int]:
    with reading(snapshot) as con:
        rows = con.execute(load_sql("eval/active_profiles"), [SITE]).fetchall()
    profiles = pl.DataFrame(rows, schema=["visitor_id", "interests"], orient="row")
    core = pl.read_parquet(truth).select("visitor_id", "top_rubriques")
    scores = []
    for _, interests, top in profiles.join(core, on="visitor_id").iter_rows():
        k = min(3, len(top))
        ranked = [i["rubrique"] for i in json.loads(interests)][:k]
        if k:
            scores.append(len(set(ranked) & set(top)) / k)
    return (sum(scores) / len(scores) if scores else 0.0), len(scores)


def ndcg(offered: list[str], targets: set[str]) -> float:
    gain = sum(1 / math.log2(i + 2) for i, p in enumerate(offered[:K]) if p in targets)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(K, len(targets))))
    return gain / ideal if ideal else 0.0


def offline(store: Store, settings: Settings, split: datetime) -> dict[str, dict[str, float]]:
    rebuild_profiles(store, settings, full=True, as_of=split, sites=[SITE])
    reader = SnapshotReader(settings.snapshot_path)
    model = reader.model(SITE)
    futures = store.query_dicts("eval/next_products", site_id=SITE, split=split)
    totals = {f"{who}_{what}": [0.0, 0.0, 0] for who in ("personalised", "baseline") for what in ("views", "buys")}
    for row in futures:
        profile = reader.visitor(SITE, row["visitor_id"])
        if profile is None:
            continue
        seen = set(row["seen_before"])
        view = visitor_view(row["visitor_id"], profile)
        for who, holdout in (("personalised", False), ("baseline", True)):
            offered = [i.product.product_id for i in recommend(model, view, K, Context(split), holdout=holdout).items]
            for what, key in (("views", "viewed_after"), ("buys", "bought_after")):
                targets = set(row[key]) - seen
                if targets:
                    acc = totals[f"{who}_{what}"]
                    acc[0] += any(p in targets for p in offered)
                    acc[1] += ndcg(offered, targets)
                    acc[2] += 1
    return {name: {"hit_rate": a[0] / a[2] if a[2] else 0.0, "ndcg": a[1] / a[2] if a[2] else 0.0, "visitors": a[2]}
            for name, a in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--split-days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.visitors < 100 or not 0 < args.split_days < args.days:
        parser.error("--visitors must be at least 100 and 0 < --split-days < --days")
    with tempfile.TemporaryDirectory(prefix="fidelia-quality-") as tmp:
        env = {**os.environ, "FIDELIA_DATA_DIR": tmp, "FIDELIA_CLICKHOUSE_DSN": f"chdb://{Path(tmp) / 'clickhouse'}",
               "FIDELIA_LOG_LEVEL": "warning"}
        subprocess.run([sys.executable, "-m", "fidelia.cli", "simulate", "--visitors", str(args.visitors), "--days",
                        str(args.days), "--seed", str(args.seed)], env=env, check=True, capture_output=True)
        settings = Settings.from_env(env)
        store = Store(env["FIDELIA_CLICKHOUSE_DSN"])
        try:
            rebuild_profiles(store, settings, full=True, sites=[SITE])
            truth = Path(tmp) / "simulations" / f"{SITE}-seed{args.seed}" / "visitors.parquet"
            precision, counted = interest_precision(settings.snapshot_path, truth)
            split = datetime.now(UTC) - timedelta(days=args.split_days)
            results = offline(store, settings, split)
        finally:
            store.close()
    print(f"seed {args.seed}: interest precision@3 {precision:.3f} over {counted} visitors with >= 5 page views")
    for what in ("views", "buys"):
        mine, base = results[f"personalised_{what}"], results[f"baseline_{what}"]
        ratio = mine["hit_rate"] / base["hit_rate"] if base["hit_rate"] else float("inf")
        print(f"next {what:<5} ({mine['visitors']} visitors): hit@10 {mine['hit_rate']:.3f} vs baseline "
              f"{base['hit_rate']:.3f} (x{ratio:.2f}); NDCG@10 {mine['ndcg']:.3f} vs {base['ndcg']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
