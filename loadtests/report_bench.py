"""Latency of every merchandiser report against the configured store (FIDELIA_CLICKHOUSE_DSN).

    .venv/bin/python -m loadtests.report_bench --repeat 5 [--only lifecycle,sources] [--breakdown]
        [--dump DIR]

Each report runs over the default period (the last 30 days up to today) with its default bucket,
the reports taking turns so that a burst of load on a shared machine spreads over all of them;
the median of `--repeat` runs is printed (wall time, and the CPU time the process spent: the
embedded ClickHouse runs in it), with the load average before and after. `--breakdown`
also splits each report's time into its named queries (ClickHouse, Arrow included) and the rest
(polars shaping). `--dump DIR` writes each report's JSON, to check that a rewrite answers the
same numbers (`diff -r` two dumps). loadtests/profiles_bench.py runs this in its last step.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.reports import DEFAULT_BUCKET, REPORTS, parse_params, run_report


class TimedStore(Store):
    """The real store, noting how long each named query takes (ClickHouse and Arrow transfer)."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.spent: dict[str, float] = defaultdict(float)

    def query_arrow(self, name: str, /, **params: Any) -> pa.Table:
        started = time.perf_counter()
        try:
            return super().query_arrow(name, **params)
        finally:
            self.spent[name] += time.perf_counter() - started


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_seconds() -> float:
    """CPU time of this process so far: the embedded ClickHouse runs inside it, so this is the
    work a report costs, whatever else the machine is doing (wall time is not, on a busy box)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(store: TimedStore, names: list[str], repeat: int, site: str, attrition_days: int,
        dump: Path | None) -> dict[str, dict[str, Any]]:
    """Median wall time per report, and per named query within it, over `repeat` rounds."""
    today = datetime.now(UTC).date()
    params = {n: parse_params(site, None, None, None, today, attrition_days, DEFAULT_BUCKET.get(n)) for n in names}
    walls: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    queries: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for round_no in range(repeat):
        for name in names:
            store.spent.clear()
            started, cpu_started = time.perf_counter(), cpu_seconds()
            report = run_report(store, name, params[name])
            walls[name].append(time.perf_counter() - started)
            cpus[name].append(cpu_seconds() - cpu_started)
            for query, seconds in store.spent.items():
                queries[name][query].append(seconds)
            if dump is not None and round_no == 0:
                dump.mkdir(parents=True, exist_ok=True)
                (dump / f"{name}.json").write_text(json.dumps(report.to_json(), indent=1, sort_keys=True, default=str))
    return {n: {"median_s": statistics.median(walls[n]), "runs": walls[n], "cpu_s": statistics.median(cpus[n]),
                "queries": {q: statistics.median(t) for q, t in queries[n].items()}} for n in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--site", default="demo")
    parser.add_argument("--only", default="", help="comma-separated report names (default: all)")
    parser.add_argument("--breakdown", action="store_true", help="print each report's time per named query")
    parser.add_argument("--dump", type=Path, help="write each report's JSON into this directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object {report: median seconds} only")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(REPORTS)
    unknown = [n for n in names if n not in REPORTS]
    if args.repeat <= 0 or unknown:
        parser.error(f"--repeat must be above 0; unknown reports: {', '.join(unknown) or 'none'}")
    settings = Settings.from_env()
    store = TimedStore(settings.clickhouse_dsn)
    before = loadavg()
    results = run(store, names, args.repeat, args.site, settings.attrition_days, args.dump)
    if args.json:
        print(json.dumps({n: round(r["median_s"], 3) for n, r in results.items()}))
        return 0
    print(f"report latencies, median of {args.repeat} (wall s, process CPU s); "
          f"load average before {before}, after {loadavg()}")
    for name, result in sorted(results.items(), key=lambda kv: -kv[1]["median_s"]):
        runs = " ".join(f"{s:.2f}" for s in result["runs"])
        print(f"  {name:<16} {result['median_s']:6.3f}   CPU {result['cpu_s']:6.3f}   runs: {runs}")
        if args.breakdown:
            in_sql = sum(result["queries"].values())
            for query, seconds in sorted(result["queries"].items(), key=lambda kv: -kv[1]):
                print(f"      {query:<30} {seconds:6.3f}")
            print(f"      {'(python / polars)':<30} {max(0.0, result['median_s'] - in_sql):6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
