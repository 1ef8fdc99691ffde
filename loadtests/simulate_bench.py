"""How fast `fidelia simulate` bulk-loads: a fresh embedded store in a temp dir, one run, the numbers.

    .venv/bin/python -m loadtests.simulate_bench --visitors 100000 --days 30

Prints elapsed seconds (generation + enrichment + inserts, then the truth Parquet apart),
events per second, and peak RSS of this process (which holds the embedded ClickHouse) and of
the generating worker processes (sampled with psutil when installed). The store is
counted afterwards to check every event landed. Results go in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from fidelia.demo.population import SimulationSpec
from fidelia.demo.simulator import simulate_bulk, write_truth
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry
from fidelia.store import Store
from loadtests.bench import machine


class PeakMemory:
    """Peak RSS of this process and of its worker processes, sampled by a thread (psutil), since
    ru_maxrss of children also counts what a forked child inherited from this process."""

    def __init__(self, every: float = 0.2) -> None:
        self.main = self.workers = self.total = 0.0
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.main = max(self.main, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux

    def _sample(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._stop.wait(self.every):
            try:
                main = me.memory_info().rss / 2**20
                workers = [child.memory_info().rss / 2**20 for child in me.children(recursive=True)]
            except psutil.Error:
                continue
            self.main = max(self.main, main)
            self.workers = max([self.workers, *workers])
            self.total = max(self.total, main + sum(workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="generating processes (default: one per core)")
    parser.add_argument("--keep", action="store_true", help="keep the temp store and print where it is")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fidelia-simbench-"))
    settings = Settings.from_env()
    site = SiteRegistry.load(settings.sites_file).get("demo")
    store = Store(f"chdb://{folder / 'clickhouse'}")
    try:
        store.migrate(settings.retention_days)
        spec = SimulationSpec(args.visitors, args.days, args.seed, int(time.time() * 1000),
                              session_timeout_ms=settings.session_timeout_minutes * 60_000)
        with PeakMemory() as memory:
            result = simulate_bulk(store, site, spec, settings.max_event_age_days, workers=args.workers)
        started = time.perf_counter()
        write_truth(result, folder / "truth", {"bench": True})
        truth_s = time.perf_counter() - started
        stored = store.client.query("SELECT count() FROM events").result_rows[0][0]
    finally:
        store.close()
    print(f"machine: {machine()}")
    workers = "auto" if args.workers is None else args.workers
    print(f"visitors={args.visitors} days={args.days} seed={args.seed} workers={workers}")
    print(f"events={result.events} stored={stored} purchases={result.purchases} "
          f"visitor_ids={result.visitors.height}")
    print(f"elapsed={result.elapsed:.1f}s events_per_s={result.events / result.elapsed:,.0f} "
          f"truth_parquet={truth_s:.1f}s")
    print(f"peak_rss_main={memory.main:.0f}MiB peak_rss_per_worker={memory.workers:.0f}MiB "
          f"peak_rss_total={memory.total:.0f}MiB")
    if args.keep:
        print(f"kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
