"""Profiles rebuild, incremental rebuild and report latencies on a large simulated shop.

    .venv/bin/python -m loadtests.profiles_bench --visitors 800000 --days 30

1. bulk-simulates the shop into a fresh embedded store (a temp dir);
2. `fidelia profiles rebuild --full`: wall time and peak RSS of that process;
3. adds ~1% new events (a second, 1%-sized population over the same days) and times the
   incremental rebuild (the process's wall time; its output also says the job's own time),
   `--repeat` times from a copy of the store as it was before, and takes the median;
4. runs every report over the last 30 days `--repeat` times in one process, median latency
   (loadtests/report_bench.py, which also runs alone against any store).
Each step is its own `fidelia` process, as a user runs them; peak RSS is the child's ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs one command and reports the peak RSS of its own children only (ru_maxrss of RUSAGE_CHILDREN
# is the largest child ever waited for, so each step needs a fresh parent).
WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the command, and its stdout."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed: {done.stderr.strip()[-500:]}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return elapsed, peak_kib / 1024, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=800_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.visitors < 100 or args.days <= 0 or args.repeat <= 0:
        parser.error("--visitors must be at least 100, --days and --repeat above 0")
    fidelia = [sys.executable, "-m", "fidelia.cli"]
    with tempfile.TemporaryDirectory(prefix="fidelia-profiles-bench-") as tmp:
        env = {**os.environ, "FIDELIA_DATA_DIR": tmp, "FIDELIA_CLICKHOUSE_DSN": f"chdb://{Path(tmp) / 'clickhouse'}",
               "FIDELIA_LOG_LEVEL": "warning"}
        sim_s, _, out = timed([*fidelia, "simulate", "--visitors", str(args.visitors), "--days", str(args.days),
                               "--seed", "1"], env)
        print(out.strip().splitlines()[-1], f"({sim_s:.0f} s)")
        full_s, full_mb, out = timed([*fidelia, "profiles", "rebuild", "--full"], env)
        print(f"full rebuild: {full_s:.1f} s, peak RSS {full_mb:.0f} MiB — {out.strip()}")
        extra = max(1, args.visitors // 100)
        # 1% more visitors over the same days: about 1% more events, all stored after the full run.
        _, _, out = timed([*fidelia, "simulate", "--visitors", str(extra), "--days", str(args.days), "--seed", "2"],
                          env)
        print("1% more:", out.strip().splitlines()[-1])
        # The same incremental run `--repeat` times, each from a copy of the store as it was
        # before the first (its watermark, fingerprints and snapshot): a median, not one sample.
        before = Path(tmp).with_name(Path(tmp).name + "-before-incremental")
        shutil.copytree(tmp, before, symlinks=True)  # the embedded store links its tables
        runs = []
        try:
            for n in range(args.repeat):
                if n:
                    shutil.rmtree(tmp)
                    shutil.copytree(before, tmp, symlinks=True)
                runs.append(timed([*fidelia, "profiles", "rebuild"], env))
        finally:
            shutil.rmtree(before)
        inc_s, inc_mb, out = sorted(runs)[len(runs) // 2]
        print(f"incremental rebuild, median of {len(runs)}: {inc_s:.2f} s ({inc_s / full_s:.1%} of the full; runs "
              f"{', '.join(f'{r[0]:.2f}' for r in runs)} s), peak RSS {inc_mb:.0f} MiB — {out.strip()}")
        _, _, out = timed([sys.executable, "-m", "loadtests.report_bench", "--repeat", str(args.repeat), "--json"], env)
        latencies = json.loads(out)
        print(f"report latencies, median of {args.repeat} (s):")
        for name, seconds in sorted(latencies.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<16} {seconds:6.3f}")
        print(json.dumps({"full_s": round(full_s, 1), "full_peak_mib": round(full_mb), "incremental_s": round(inc_s, 2),
                          "incremental_share": round(inc_s / full_s, 3),
                          "reports_max_s": round(max(latencies.values()), 3),
                          "median_report_s": round(statistics.median(latencies.values()), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
