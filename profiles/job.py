"""The profiles job: for each site, extract → model → load, full or incremental.

Incremental (the default) recomputes from events only the visitors with events stored since
the last run's watermark; the loyalty numbers that move with the date and the population
(recency, RFM, attrition) are recomputed for every customer each run from the orders, which
are few and cheap. A visitor profile is a pure function of the visitor's events and their
customer's orders, so an incremental run writes what a full run would.
`--as-of` runs are full and leave the next plain run full too.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.buckets import rebuild_in_buckets
from profiles.build import build_customer_profiles, build_persons, build_visitor_profiles
from profiles.extract import Scope, extract
from profiles.load import write_clickhouse, write_snapshot
from recommender.train import train

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RebuildResult:
    site_id: str
    mode: str
    visitors: int
    customers: int
    seconds: float


class Progress:
    """One status line on stderr when it is a terminal; silent otherwise."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def step(self, site_id: str, done: int, total: int, what: str) -> None:
        if self.enabled:
            bar = "#" * (20 * done // total)
            sys.stderr.write(f"\r{site_id:<16} [{bar:<20}] {what:<40}")
            sys.stderr.flush()
            if done == total:
                sys.stderr.write("\n")


def rebuild_profiles(store: Store, settings: Settings, *, full: bool = False, as_of: datetime | None = None,
                     sites: list[str] | None = None, progress: Progress | None = None,
                     now: datetime | None = None) -> list[RebuildResult]:
    """Rebuild the profiles of every site with events (only those of `sites` when given); returns
    what was done per site. `as_of` back-dates a run (always full); `now` stands in for the clock.
    """
    progress = progress or Progress(enabled=False)
    with_events = [row[0] for row in store.query("profiles/sites")]
    site_ids = with_events if sites is None else [s for s in sites if s in with_events]
    return [rebuild_site(store, settings, site_id, full=full, as_of=as_of, progress=progress, now=now)
            for site_id in site_ids]


def compute_site(store: Store, settings: Settings, scope: Scope) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The visitor and customer profiles a run over `scope` writes (no writing here)."""
    inputs = extract(store, scope, settings.session_timeout_minutes, settings.interest_half_life_days)
    updated_at = datetime.now(UTC)
    persons = build_persons(inputs, scope.as_of, settings.attrition_days)
    visitors, customers = pl.collect_all([
        build_visitor_profiles(inputs.visits, persons, scope.site_id, scope.as_of, updated_at),
        build_customer_profiles(inputs.visits, persons, scope.site_id, scope.as_of, updated_at,
                                settings.interest_half_life_days),
    ])
    return to_millis(visitors), to_millis(customers)


def rebuild_site(store: Store, settings: Settings, site_id: str, *, full: bool, as_of: datetime | None,
                 progress: Progress, now: datetime | None = None) -> RebuildResult:
    started = time.perf_counter()
    back_dated = as_of is not None
    run_as_of = as_of or now or datetime.now(UTC)
    watermark_key, current_key = f"profiles.watermark.{site_id}", f"profiles.current.{site_id}"
    previous = store.get_meta(watermark_key)
    incremental = not full and not back_dated and previous is not None and store.get_meta(current_key) == "1"
    watermark = datetime.fromisoformat(previous) if incremental and previous else EPOCH
    seen_until = store.query("profiles/watermark", site_id=site_id)[0][0]

    progress.step(site_id, 1, 3, "extracting and modelling")
    scope = Scope(site_id, run_as_of, full=not incremental, watermark=watermark)
    if settings.profiles_buckets > 1:
        visitor_count, customer_count = rebuild_in_buckets(store, settings, scope, datetime.now(UTC), run_as_of)
    else:
        visitors, customers = compute_site(store, settings, scope)
        visitor_count, customer_count = visitors.height, customers.height
        progress.step(site_id, 2, 3, f"writing {visitors.height} visitors, {customers.height} customers")
        write_clickhouse(store, site_id, visitors, customers, full=not incremental)
        model = train(store, site_id, run_as_of)
        write_snapshot(settings.snapshot_path, site_id, visitors, customers, full=not incremental, model=model)

    if seen_until is not None and not back_dated:
        store.set_meta(watermark_key, seen_until.replace(tzinfo=UTC).isoformat()
                       if seen_until.tzinfo is None else seen_until.isoformat())
    store.set_meta(current_key, "0" if back_dated else "1")
    progress.step(site_id, 3, 3, "done")
    mode = "as-of" if back_dated else ("incremental" if incremental else "full")
    result = RebuildResult(site_id, mode, visitor_count, customer_count, time.perf_counter() - started)
    log.info("profiles %s rebuild of %s: %d visitors, %d customers in %.1f s", mode, site_id, result.visitors,
             result.customers, result.seconds)
    return result


def to_millis(frame: pl.DataFrame) -> pl.DataFrame:
    """ClickHouse's DateTime64(3) columns take millisecond timestamps."""
    return frame.with_columns(pl.col(pl.Datetime).dt.cast_time_unit("ms"))
