"""Peak memory of the profiles rebuild, one pass against buckets, as the population grows.

    .venv/bin/python -m loadtests.buckets_bench --step 1000000 --steps 5 --buckets auto --single-up-to 2000000

Bulk-simulates `--step` visitors into an embedded store, then runs `fidelia profiles rebuild
--full` once with FIDELIA_PROFILES_BUCKETS=1 (up to `--single-up-to` visitors: the single pass
needs ~2.5 GB per million) and once with `--buckets` (a number, or `auto`: one bucket per
`--bucket-visitors`), each its own process (wall time, peak RSS, snapshot size); then adds
another `--step` visitors (a new seed: new people) and measures again, `--steps` times. Same
store, same data for both modes at each size.

`--store DIR` keeps the store in DIR (a temp dir otherwise) and remembers the steps simulated
there, so a long series can run in parts: `--steps 3 --measure-from 3` on a store that holds two
steps simulates the third and measures only that one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from loadtests.profiles_bench import timed

STEPS_FILE = "bench-steps.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=1_000_000, help="visitors added per step")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--buckets", default="16", help="a number of buckets (2 or more) or auto")
    parser.add_argument("--bucket-visitors", type=int, default=100_000, help="visitors per bucket with auto")
    parser.add_argument("--single-up-to", type=int, default=0, help="run the single pass up to this many visitors "
                        "(0: at every step)")
    parser.add_argument("--store", type=Path, help="keep the store here and resume from the steps it holds")
    parser.add_argument("--measure-from", type=int, default=1, help="first step to measure")
    args = parser.parse_args()
    if args.step < 100 or args.steps <= 0 or args.days <= 0 or args.bucket_visitors <= 0:
        parser.error("--step must be at least 100, --steps, --days and --bucket-visitors above 0")
    if args.buckets != "auto" and (not args.buckets.isdigit() or int(args.buckets) < 2):
        parser.error("--buckets must be a number of at least 2, or auto")
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
        return run(args, args.store)
    with tempfile.TemporaryDirectory(prefix="fidelia-buckets-bench-") as tmp:
        return run(args, Path(tmp))


def run(args: argparse.Namespace, home: Path) -> int:
    fidelia = [sys.executable, "-m", "fidelia.cli"]
    env = {**os.environ, "FIDELIA_DATA_DIR": str(home), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{home / 'clickhouse'}",
           "FIDELIA_LOG_LEVEL": "warning", "FIDELIA_PROFILES_BUCKET_VISITORS": str(args.bucket_visitors)}
    snapshot = home / "snapshot" / "profiles.duckdb"
    done = simulated_steps(home, args)
    rows = []
    for step in range(1, args.steps + 1):
        if step > done:
            sim_s, _, out = timed([*fidelia, "simulate", "--visitors", str(args.step), "--days", str(args.days),
                                   "--seed", str(step)], env)
            print(f"step {step}:", out.strip().splitlines()[-1], f"({sim_s:.0f} s)", flush=True)
            done = step
            (home / STEPS_FILE).write_text(json.dumps({"step": args.step, "days": args.days, "steps": done}))
        if step < args.measure_from:
            continue
        single = not args.single_up_to or step * args.step <= args.single_up_to
        for buckets in (["1"] if single else []) + [args.buckets]:
            seconds, peak, out = timed([*fidelia, "profiles", "rebuild", "--full"],
                                       {**env, "FIDELIA_PROFILES_BUCKETS": buckets})
            row = {"visitors_simulated": step * args.step, "buckets": buckets, "seconds": round(seconds, 1),
                   "peak_rss_mib": round(peak), "snapshot_mib": round(snapshot.stat().st_size / 2**20),
                   "load": Path("/proc/loadavg").read_text().split()[0], "result": out.strip()}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps(rows))
    return 0


def simulated_steps(home: Path, args: argparse.Namespace) -> int:
    """How many steps of this series the store holds already (0 for a new store)."""
    path = home / STEPS_FILE
    if not path.exists():
        return 0
    known = json.loads(path.read_text())
    if (known["step"], known["days"]) != (args.step, args.days):
        raise SystemExit(f"{home} holds steps of {known['step']} visitors over {known['days']} days, "
                         f"not {args.step} over {args.days}: use another --store")
    return int(known["steps"])


if __name__ == "__main__":
    sys.exit(main())
