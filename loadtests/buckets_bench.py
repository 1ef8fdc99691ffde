"""Peak memory of the profiles rebuild, one pass against hash buckets, as the population grows.

    .venv/bin/python -m loadtests.buckets_bench --step 1000000 --steps 2 --buckets 16

Bulk-simulates `--step` visitors into a fresh embedded store, then runs `fidelia profiles
rebuild --full` once with FIDELIA_PROFILES_BUCKETS=1 and once with `--buckets`, each its own
process (wall time, peak RSS, snapshot size); then adds another `--step` visitors (a new seed:
new people) and measures again, `--steps` times. Same store, same data for both modes at each
size, so the ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from loadtests.profiles_bench import timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=1_000_000, help="visitors added per step")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--buckets", type=int, default=16)
    args = parser.parse_args()
    if args.step < 100 or args.steps <= 0 or args.days <= 0 or args.buckets < 2:
        parser.error("--step must be at least 100, --steps and --days above 0, --buckets at least 2")
    fidelia = [sys.executable, "-m", "fidelia.cli"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fidelia-buckets-bench-") as tmp:
        env = {**os.environ, "FIDELIA_DATA_DIR": tmp, "FIDELIA_CLICKHOUSE_DSN": f"chdb://{Path(tmp) / 'clickhouse'}",
               "FIDELIA_LOG_LEVEL": "warning"}
        snapshot = Path(tmp) / "snapshot" / "profiles.duckdb"
        for step in range(1, args.steps + 1):
            sim_s, _, out = timed([*fidelia, "simulate", "--visitors", str(args.step), "--days", str(args.days),
                                   "--seed", str(step)], env)
            print(f"step {step}:", out.strip().splitlines()[-1], f"({sim_s:.0f} s)", flush=True)
            for buckets in (1, args.buckets):
                seconds, peak, out = timed([*fidelia, "profiles", "rebuild", "--full"],
                                           {**env, "FIDELIA_PROFILES_BUCKETS": str(buckets)})
                row = {"visitors_simulated": step * args.step, "buckets": buckets, "seconds": round(seconds, 1),
                       "peak_rss_mib": round(peak), "snapshot_mib": round(snapshot.stat().st_size / 2**20),
                       "result": out.strip()}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
