"""The profiles job in buckets of people, for populations that do not fit one pass.

With FIDELIA_PROFILES_BUCKETS=N (N > 1), or `auto` (one bucket per
FIDELIA_PROFILES_BUCKET_VISITORS visitors), a site's visitors are split into ranges of the
visitor id, cut at an evenly spread sample of the ids (sql/profiles/bucket_bounds.sql); a visitor
linked to a customer goes with the customer's first device (sql/profiles/visits.sql), so every
device of one customer falls in the same bucket. Each bucket is one aggregation in ClickHouse
that reads only its own granules of the events (visitor_id follows site_id in their sort key)
and one modelling step in polars, written out before the next is read: the visit-level memory
follows the bucket, not the population, and so does the time of each bucket.

What stays whole is per person and small next to the events: the orders and feedback that
give the loyalty numbers (RFM ranks people against the whole site, so they are scored once, and
customer value is fitted once on every buyer),
and the products' first sighting. The recommender's co-visited pairs are counted bucket by
bucket too (recommender/train.py): grouped by visit over the whole window, they grew with the
shop. Customers with orders but no visit in any bucket (imported history only) are written
after the last bucket. Profiles the run no longer produces get
tombstones found by one query on the run's version (`updated_at`), not by holding every id.
The result is the single pass's, row for row (tests/profiles/test_buckets_properties.py).
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from itertools import pairwise

import polars as pl

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.build import build_customer_profiles, build_persons, build_visitor_profiles, person_key, to_millis
from profiles.extract import Bucket, Scope, extract, extract_visits, frame
from profiles.load import insert_profiles, insert_tombstones
from profiles.memory import log_memory
from profiles.snapshot import SnapshotWriter
from profiles.value import CustomerValue, ValueModel, ValueSettings, customer_value
from recommender.train import train

log = logging.getLogger(__name__)
SAMPLE_SIZE = 20_000  # visitor ids sampled to place the cuts: buckets within a few % of each other


def plan_buckets(store: Store, settings: Settings, site_id: str, as_of: datetime) -> list[Bucket]:
    """The buckets of a run over `site_id`: one (the single pass) unless FIDELIA_PROFILES_BUCKETS
    asks for more, or is `auto` and the site has more visitors than FIDELIA_PROFILES_BUCKET_VISITORS.
    Never more buckets than sampled visitors, so none is empty by construction."""
    if settings.profiles_buckets == 1:
        return [Bucket()]
    sample = store.query("profiles/bucket_bounds", site_id=site_id, as_of=as_of, sample_size=SAMPLE_SIZE)
    if not sample:
        return [Bucket()]
    wanted = settings.profiles_buckets or -(-sample[0][0] // settings.profiles_bucket_visitors)
    count = max(1, min(wanted, len(sample)))
    edges = ["", *(sample[k * len(sample) // count][1] for k in range(1, count)), ""]
    return [Bucket(lo, hi) for lo, hi in pairwise(edges)]


def rebuild_in_buckets(store: Store, settings: Settings, scope: Scope, plan: list[Bucket], updated_at: datetime,
                       train_as_of: datetime, value_settings: ValueSettings, prior_value: ValueModel | None
                       ) -> tuple[int, int, CustomerValue]:
    """Write the profiles of every bucket of `plan` into ClickHouse and the snapshot; returns the
    visitors and customers written and the site's customer value (fitted once, or scored with
    `prior_value`)."""
    # One version for every bucket, at the store's millisecond precision: the stale queries
    # compare stored versions with it.
    updated_at = updated_at.replace(microsecond=updated_at.microsecond // 1000 * 1000)
    persons, value = person_numbers(store, settings, scope, value_settings, prior_value)
    log_memory(log, "persons and customer value")
    produced_customers: list[pl.Series] = []
    visitors_total = customers_total = 0
    with SnapshotWriter(settings.snapshot_path, scope.site_id,
                        bucket_memory_mib=settings.profiles_snapshot_memory_mib) as snapshot:
        visits, carried = pl.DataFrame(), pl.DataFrame()
        spread = frame(store, "profiles/straddling_customers", site_id=scope.site_id, as_of=scope.as_of)
        store.release_memory()
        log_memory(log, "snapshot copy")
        for number, bucket in enumerate(plan, 1):
            visits = extract_visits(store, scope, settings.session_timeout_minutes, settings.interest_half_life_days,
                                    bucket=bucket, with_stored=True)
            # The extract's working memory, freed by the engine but kept by its allocator, would
            # otherwise sit under the modelling and the writes of the bucket (Store.release_memory).
            store.release_memory()
            log_memory(log, f"bucket {number}/{len(plan)} extract")
            later = straddling_customers(spread, bucket)
            visitors, customers, carried = model_bucket(visits, carried, later, persons, scope, updated_at,
                                                        settings.interest_half_life_days)
            log_memory(log, f"bucket {number}/{len(plan)} model")
            write_bucket(store, snapshot, visitors, customers, full=scope.full, stage=f"bucket {number}/{len(plan)}")
            produced_customers.append(customers["customer_id"])
            visitors_total, customers_total = visitors_total + visitors.height, customers_total + customers.height
        # Customers no bucket saw (orders, no visits): their profile comes from the orders alone.
        seen = pl.concat(produced_customers) if produced_customers else pl.Series("customer_id", [], pl.String)
        leftover = persons.filter(~pl.col("person").is_in(("c:" + seen).implode()))
        customers = to_millis(build_customer_profiles(visits.clear().lazy(), leftover, scope.site_id, scope.as_of,
                                                      updated_at, settings.interest_half_life_days).collect())
        write_bucket(store, snapshot, to_millis(build_visitor_profiles(
            visits.clear().lazy(), persons, scope.site_id, scope.as_of, updated_at).collect()), customers,
            full=scope.full, stage="customers without visits")
        customers_total += customers.height
        bury_stale(store, scope, updated_at)
        log_memory(log, "tombstones")
        model = train(store, scope.site_id, train_as_of, plan)
        log_memory(log, "recommender")
        snapshot.publish(model)
    return visitors_total, customers_total, value


def person_numbers(store: Store, settings: Settings, scope: Scope, value_settings: ValueSettings,
                   prior_value: ValueModel | None) -> tuple[pl.LazyFrame, CustomerValue]:
    """Every person's loyalty numbers and the site's customer value, for all the buckets. The
    orders and feedback they come from are dropped here: kept for the whole run, they grew with
    the shop (26 MB of orders at 5M visitors), and so did the value scores."""
    inputs = extract(store, scope, settings.session_timeout_minutes, settings.interest_half_life_days,
                     visits=pl.DataFrame())
    store.release_memory()
    value = customer_value(inputs.orders.select("person", "ts", "amount"), scope.as_of, value_settings, prior_value)
    persons = build_persons(inputs, scope.as_of, settings.attrition_days, value.scores.lazy()).collect()
    return persons.lazy(), CustomerValue(value.model)  # the scores are in `persons` now


def straddling_customers(spread: pl.DataFrame, bucket: Bucket) -> pl.Series:
    """The customers with devices in `bucket` or before it and in a later bucket, among `spread`
    (sql/profiles/straddling_customers.sql: every customer with more than one device)."""
    if not bucket.hi:
        return pl.Series("customer_id", [], pl.String)
    return spread.filter((pl.col("first_device") < bucket.hi) & (pl.col("last_device") >= bucket.hi))["customer_id"]


def model_bucket(visits: pl.DataFrame, carried: pl.DataFrame, later: pl.Series, persons: pl.LazyFrame,
                 scope: Scope, updated_at: datetime, half_life_days: float
                 ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One bucket's visitor profiles, and the profiles of the customers whose last device is in
    it (from their devices' visit rows `carried` from earlier buckets and this one's), against
    the whole site's person numbers; returns them and the visit rows to carry on (the devices
    of the customers in `later`)."""
    pool = pl.concat([carried, visits], how="vertical_relaxed") if carried.height else visits
    waiting = detached(pool.filter(pl.col("customer_id").is_in(later.implode())))
    ready = pool.filter(~pl.col("customer_id").is_in(later.implode())).lazy()
    keys = ready.select(person_key(pl.col("customer_id"), pl.col("visitor_id")).alias("person"))
    mine = persons.join(keys.unique(), on="person", how="semi")
    # The bucket's own people only: joined whole, the site's persons were hashed in every bucket.
    visitor_keys = visits.lazy().select(person_key(pl.col("customer_id"), pl.col("visitor_id")).alias("person"))
    theirs = persons.join(visitor_keys.unique(), on="person", how="semi")
    visitors, customers = pl.collect_all([
        build_visitor_profiles(visits.lazy(), theirs, scope.site_id, scope.as_of, updated_at),
        build_customer_profiles(ready, mine, scope.site_id, scope.as_of, updated_at, half_life_days),
    ])
    return to_millis(visitors), to_millis(customers), waiting


def detached(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` copied out of the buffers it shares. polars' strings are views into the Arrow
    buffers a query returned, and a filter keeps the views: the few visit rows carried from a
    bucket would keep that bucket's strings alive, and by the last bucket every bucket's."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)


def write_bucket(store: Store, snapshot: SnapshotWriter, visitors: pl.DataFrame, customers: pl.DataFrame,
                 full: bool, stage: str) -> None:
    insert_profiles(store, visitors, customers)
    store.release_memory()  # the insert's working memory: ~7x the rows' Arrow size
    log_memory(log, f"{stage} clickhouse insert")
    snapshot.add(visitors, customers, full)


def bury_stale(store: Store, scope: Scope, updated_at: datetime) -> None:
    """Tombstones for the profiles this run did not write: customers always (a run writes them
    all), visitors on a full run (an incremental one writes only the changed)."""
    version = {"site_id": scope.site_id, "updated_at": updated_at}
    gone = [row[0] for row in store.query("profiles/stale_customers", **version)]
    insert_tombstones(store, scope.site_id, "customer_profiles", "customer_id", gone, updated_at)
    if scope.full:
        gone = [row[0] for row in store.query("profiles/stale_visitors", **version)]
        insert_tombstones(store, scope.site_id, "visitor_profiles", "visitor_id", gone, updated_at)
