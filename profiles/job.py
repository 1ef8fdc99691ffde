"""The profiles job: for each site, extract → model → load, full or incremental.

Incremental (the default) recomputes from events only the visitors with events stored since
the last run's watermark; the loyalty numbers that move with the date and the population
(recency, RFM, attrition) are recomputed for every customer each run from the orders, which
are few and cheap. A visitor profile is a pure function of the visitor's events and their
customer's orders, so an incremental run computes what a full run would, and writes only the
rows of the people whose numbers moved (profiles/changes.py). The recommender is retrained on
full runs and when its model is older than FIDELIA_RECO_RETRAIN_MINUTES; customer value is
refitted on full runs and when its fit is older than FIDELIA_VALUE_REFIT_HOURS, and scored with
the last fit in between.
`--as-of` runs are full and leave the next plain run full too.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.buckets import plan_buckets, rebuild_in_buckets
from profiles.build import build_customer_profiles, build_visitor_profiles, to_millis
from profiles.changes import (
    RowChanges,
    forget_state,
    linked_before,
    load_state,
    plan,
    save_state,
    state_path,
    stored_visits,
)
from profiles.extract import WHOLE_SITE, Scope, extract_people, extract_visits
from profiles.load import write_clickhouse
from profiles.memory import log_memory
from profiles.persons import person_numbers, site_numbers
from profiles.snapshot import reading, write_snapshot
from profiles.value import (
    CustomerValue,
    ValueModel,
    ValueSettings,
    record_value,
    refit_due,
    stored_model,
)
from profiles.writing import profile_writes
from recommender.train import train, trained_key

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
    with profile_writes(settings.data_dir):  # not while an erasure runs (profiles/writing.py)
        return [rebuild_site(store, settings, site_id, full=full, as_of=as_of, progress=progress, now=now)
                for site_id in site_ids]


def compute_site(store: Store, settings: Settings, scope: Scope, prior_value: ValueModel | None = None
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The visitor and customer profiles a full run over `scope` writes (no writing here), with
    customer value fitted, or scored with `prior_value`'s parameters when given."""
    changes, _, _ = compute_changes(store, settings, scope, None, prior_value)
    return changes.visitors, changes.customers


def assemble(visits: pl.LazyFrame, persons: pl.DataFrame, scope: Scope, settings: Settings,
             customer_visits: pl.LazyFrame | None = None, customer_persons: pl.DataFrame | None = None
             ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Visitor rows for `visits`; customer rows for the customers among `persons` and `visits`
    (or among the narrower `customer_persons` and `customer_visits` when given)."""
    updated_at = datetime.now(UTC)
    customer_persons = persons if customer_persons is None else customer_persons
    visitors, customers = pl.collect_all([
        build_visitor_profiles(visits, persons.lazy(), scope.site_id, scope.as_of, updated_at),
        build_customer_profiles(visits if customer_visits is None else customer_visits, customer_persons.lazy(),
                                scope.site_id, scope.as_of, updated_at, settings.interest_half_life_days),
    ])
    return to_millis(visitors), to_millis(customers)


def compute_changes(store: Store, settings: Settings, scope: Scope, previous: pl.DataFrame | None,
                    prior_value: ValueModel | None) -> tuple[RowChanges, pl.DataFrame, CustomerValue]:
    """The rows a run writes, every person's numbers and the site's customer value. Full:
    everyone. Incremental (with the last run's fingerprints): the visitors with new events and
    the people whose numbers moved. Customer value is fitted once per site on every buyer, or
    scored with `prior_value`'s parameters."""
    site = site_numbers(store, scope, value_settings(settings), prior_value)
    visits = extract_visits(store, scope, settings.session_timeout_minutes, settings.interest_half_life_days)
    inputs = extract_people(store, scope, WHOLE_SITE, site.product_first_seen, visits)
    store.release_memory()  # the extract's pages, kept by the engine's allocator, under the modelling
    persons = person_numbers(inputs, site, scope.as_of, settings.attrition_days, value_settings(settings))
    value = CustomerValue(site.value)
    if scope.full or previous is None:
        visitors, customers = assemble(inputs.visits, persons, scope, settings)
        return RowChanges(visitors, customers, gone_customers=[]), persons, value
    fresh = inputs.visits.collect()
    fresh_ids = fresh["visitor_id"].to_list()
    with reading(settings.snapshot_path) as snapshot:
        rebuild = plan(persons, previous, fresh.select("visitor_id", "customer_id"),
                       linked_before(snapshot, scope.site_id, fresh_ids))
        stored = stored_visits(snapshot, scope.site_id, rebuild, fresh_ids)
    visits = pl.concat([fresh, stored.select(fresh.columns)], how="vertical_relaxed")
    wanted = pl.DataFrame({"customer_id": rebuild.customers}, schema={"customer_id": pl.String})
    visitors, customers = assemble(
        visits.lazy(), persons, scope, settings,
        customer_visits=visits.lazy().join(wanted.lazy(), on="customer_id", how="semi"),
        customer_persons=persons.join(wanted.select((pl.lit("c:") + pl.col("customer_id")).alias("person")),
                                      on="person", how="semi"))
    gone = sorted(rebuild.maybe_gone - set(customers["customer_id"].to_list()))
    return RowChanges(visitors, customers, gone), persons, value


def rebuild_site(store: Store, settings: Settings, site_id: str, *, full: bool, as_of: datetime | None,
                 progress: Progress, now: datetime | None = None) -> RebuildResult:
    started = time.perf_counter()
    back_dated = as_of is not None
    run_as_of = as_of or now or datetime.now(UTC)
    watermark_key, current_key = f"profiles.watermark.{site_id}", f"profiles.current.{site_id}"
    rows_path = state_path(settings.data_dir, site_id)
    previous = store.get_meta(watermark_key)
    plan = plan_buckets(store, settings, site_id, run_as_of)  # profiles/buckets.py
    bucketed = len(plan) > 1
    last_rows = None if full or back_dated or bucketed else load_state(rows_path)
    incremental = (not full and not back_dated and previous is not None and store.get_meta(current_key) == "1"
                   and (bucketed or (last_rows is not None and settings.snapshot_path.exists())))
    watermark = datetime.fromisoformat(previous) if incremental and previous else EPOCH
    seen_until = store.query("profiles/watermark", site_id=site_id)[0][0]

    progress.step(site_id, 1, 3, "extracting and modelling")
    scope = Scope(site_id, run_as_of, full=not incremental, watermark=watermark)
    prior = stored_model(store, site_id)
    prior = None if refit_due(prior, value_settings(settings), run_as_of, incremental) else prior
    if bucketed:
        forget_state(rows_path)  # a bucketed run keeps no fingerprints: a later single pass starts full
        visitor_count, customer_count, value = rebuild_in_buckets(store, settings, scope, plan, datetime.now(UTC),
                                                                  run_as_of, value_settings(settings), prior)
    else:
        changes, persons, value = compute_changes(store, settings, scope, last_rows, prior)
        log_memory(log, "profiles")
        visitor_count, customer_count = changes.visitors.height, changes.customers.height
        progress.step(site_id, 2, 3, f"writing {visitor_count} visitors, {customer_count} customers")
        forget_state(rows_path)  # until this run has written everything, the next one is full
        write_changes(store, settings, scope, changes)
        if not back_dated:
            save_state(rows_path, persons)
    if prior is None:
        record_value(store, site_id, value)

    if seen_until is not None and not back_dated:
        store.set_meta(watermark_key, seen_until.replace(tzinfo=UTC).isoformat()
                       if seen_until.tzinfo is None else seen_until.isoformat())
    store.set_meta(current_key, "0" if back_dated else "1")
    progress.step(site_id, 3, 3, "done")
    mode = "as-of" if back_dated else ("incremental" if incremental else "full")
    result = RebuildResult(site_id, mode, visitor_count, customer_count, time.perf_counter() - started)
    log.info("profiles %s rebuild of %s: %d visitors, %d customers written in %.1f s", mode, site_id,
             result.visitors, result.customers, result.seconds)
    return result


def write_changes(store: Store, settings: Settings, scope: Scope, changes: RowChanges) -> None:
    """ClickHouse first, then the recommender when due, then the snapshot renamed into place."""
    write_clickhouse(store, scope.site_id, changes, full=scope.full)
    log_memory(log, "clickhouse insert")
    retrain = retrain_due(store, settings, scope.site_id, not scope.full, scope.as_of)
    model = train(store, scope.site_id, scope.as_of) if retrain else None
    log_memory(log, "recommender")
    write_snapshot(settings.snapshot_path, scope.site_id, changes, full=scope.full, model=model)
    if model is not None:
        store.set_meta(trained_key(scope.site_id), scope.as_of.isoformat())


def retrain_due(store: Store, settings: Settings, site_id: str, incremental: bool, as_of: datetime) -> bool:
    """Full runs always retrain; an incremental run only when the model is older than the setting or
    the catalog changed (co-visitation over the whole window would be most of its cost otherwise)."""
    trained = store.get_meta(trained_key(site_id))
    return (not incremental or not trained
            or as_of - datetime.fromisoformat(trained) >= timedelta(minutes=settings.reco_retrain_minutes))


def value_settings(settings: Settings) -> ValueSettings:
    return ValueSettings(settings.value_horizon_months, settings.value_monthly_discount,
                         settings.value_min_repeat_customers, settings.value_refit_hours)
