"""The profiles job in buckets of people, for populations that do not fit one pass.

With FIDELIA_PROFILES_BUCKETS=N (N > 1), or `auto` (one bucket per
FIDELIA_PROFILES_BUCKET_VISITORS visitors), a site's visitors are split into ranges of the
visitor id, cut at an evenly spread sample of the ids (sql/profiles/bucket_bounds.sql); a visitor
linked to a customer goes with the customer's first device (sql/profiles/visits.sql), so every
device of one customer falls in the same bucket. Each bucket is one aggregation in ClickHouse
that reads only its own granules of the events (visitor_id follows site_id in their sort key)
and one modelling step in polars, written out before the next is read: the visit-level memory
follows the bucket, not the population, and so does the time of each bucket.

The person-level numbers are bucketed too (profiles/persons.py): each bucket's orders and
feedback are read for its own people only (its visitors, and every device of their
customers: sql/migrations/0007_profile_people.sql) and scored against the whole site's RFM cut
points and customer value model, both taken once from small summaries the store computes.
What stays whole is per product (the products' first sighting) or per score (the cut points,
the model's parameters): nothing grows with the people. The recommender's co-visited pairs are
counted bucket by bucket too (recommender/train.py): grouped by visit over the whole window,
they grew with the shop. Customers with orders but no device (imported history only) are
written after the last bucket, in chunks of their ids cut like the buckets
(sql/profiles/deviceless_bounds.sql). Profiles the run no longer produces get
tombstones found by one query on the run's version (`updated_at`), not by holding every id.
The result is the single pass's, row for row (tests/profiles/test_buckets_properties.py).
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from functools import partial
from itertools import pairwise
from typing import Any

import polars as pl

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.build import build_customer_profiles, build_visitor_profiles, to_millis
from profiles.extract import Bucket, People, Scope, extract_people, extract_visits, frame
from profiles.load import insert_profiles, insert_tombstones
from profiles.memory import log_memory
from profiles.persons import SiteNumbers, person_numbers, site_numbers
from profiles.snapshot import SnapshotWriter
from profiles.value import CustomerValue, ValueModel, ValueSettings
from recommender.train import train

log = logging.getLogger(__name__)
SAMPLE_SIZE = 20_000  # visitor ids sampled to place the cuts: buckets within a few % of each other
BUCKET, DEVICELESS = 1, 2  # the parts of sql/migrations/0007_profile_people.sql


def plan_buckets(store: Store, settings: Settings, site_id: str, as_of: datetime) -> list[Bucket]:
    """The buckets of a run over `site_id`: one (the single pass) unless FIDELIA_PROFILES_BUCKETS
    asks for more, or is `auto` and the site has more visitors than FIDELIA_PROFILES_BUCKET_VISITORS.
    Never more buckets than sampled visitors, so none is empty by construction."""
    if settings.profiles_buckets == 1:
        return [Bucket()]
    sample = store.query("profiles/bucket_bounds", site_id=site_id, as_of=as_of, sample_size=SAMPLE_SIZE)
    return cut_sample(sample, settings.profiles_buckets or ceil_div(sample[0][0] if sample else 0,
                                                                    settings.profiles_bucket_visitors))


def cut_sample(sample: list[tuple[Any, ...]], wanted: int) -> list[Bucket]:
    """`wanted` ranges of ids (fewer if the sample is smaller) at evenly spaced ids of `sample`
    (rows of: the estimated total, an id; sorted by id), the first and last open-ended."""
    count = max(1, min(wanted, len(sample)))
    edges = ["", *(sample[k * len(sample) // count][1] for k in range(1, count)), ""]
    return [Bucket(lo, hi) for lo, hi in pairwise(edges)]


def ceil_div(total: int, per: int) -> int:
    return -(-total // per)


def deviceless_chunks(store: Store, settings: Settings, scope: Scope) -> list[People]:
    """The customers without a device, in ranges of their ids of about FIDELIA_PROFILES_BUCKET_VISITORS
    each; none when there are none."""
    sample = store.query("profiles/deviceless_bounds", site_id=scope.site_id, as_of=scope.as_of,
                         sample_size=SAMPLE_SIZE)
    if not sample:
        return []
    chunks = cut_sample(sample, ceil_div(sample[0][0], settings.profiles_bucket_visitors))
    return [People(DEVICELESS, chunk.lo, chunk.hi) for chunk in chunks]


def rebuild_in_buckets(store: Store, settings: Settings, scope: Scope, plan: list[Bucket], updated_at: datetime,
                       train_as_of: datetime, value_settings: ValueSettings, prior_value: ValueModel | None
                       ) -> tuple[int, int, CustomerValue]:
    """Write the profiles of every bucket of `plan` into ClickHouse and the snapshot; returns the
    visitors and customers written and the site's customer value (fitted once, or scored with
    `prior_value`)."""
    # One version for every bucket, at the store's millisecond precision: the stale queries
    # compare stored versions with it.
    updated_at = updated_at.replace(microsecond=updated_at.microsecond // 1000 * 1000)
    site = site_numbers(store, scope, value_settings, prior_value)
    numbers = partial(bucket_persons, store, settings, scope, site, value_settings)
    store.release_memory()
    log_memory(log, "site numbers")
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
            persons = numbers(People(BUCKET, bucket.lo, bucket.hi))
            log_memory(log, f"bucket {number}/{len(plan)} persons")
            later = straddling_customers(spread, bucket)
            visitors, customers, carried = model_bucket(visits, carried, later, persons, scope, updated_at,
                                                        settings.interest_half_life_days)
            log_memory(log, f"bucket {number}/{len(plan)} model")
            write_bucket(store, snapshot, visitors, customers, full=scope.full, stage=f"bucket {number}/{len(plan)}")
            visitors_total, customers_total = visitors_total + visitors.height, customers_total + customers.height
        # Customers no bucket holds (orders, no device): their profile comes from their orders alone.
        for chunk in deviceless_chunks(store, settings, scope):
            visitors, customers, _ = model_bucket(visits.clear(), carried, pl.Series("customer_id", [], pl.String),
                                                  numbers(chunk), scope, updated_at, settings.interest_half_life_days)
            write_bucket(store, snapshot, visitors, customers, full=scope.full, stage="customers without a device")
            customers_total += customers.height
        bury_stale(store, scope, updated_at)
        log_memory(log, "tombstones")
        model = train(store, scope.site_id, train_as_of, plan)
        log_memory(log, "recommender")
        snapshot.publish(model)
    return visitors_total, customers_total, CustomerValue(site.value)


def bucket_persons(store: Store, settings: Settings, scope: Scope, site: SiteNumbers, value_settings: ValueSettings,
                   people: People) -> pl.DataFrame:
    """The loyalty numbers of `people`, against the whole site's cut points and value model.
    Their orders and feedback are dropped here: only the numbers go on to the modelling."""
    inputs = extract_people(store, scope, people, site.product_first_seen, pl.DataFrame())
    store.release_memory()
    return person_numbers(inputs, site, scope.as_of, settings.attrition_days, value_settings)


def straddling_customers(spread: pl.DataFrame, bucket: Bucket) -> pl.Series:
    """The customers with devices in `bucket` or before it and in a later bucket, among `spread`
    (sql/profiles/straddling_customers.sql: every customer with more than one device)."""
    if not bucket.hi:
        return pl.Series("customer_id", [], pl.String)
    return spread.filter((pl.col("first_device") < bucket.hi) & (pl.col("last_device") >= bucket.hi))["customer_id"]


def model_bucket(visits: pl.DataFrame, carried: pl.DataFrame, later: pl.Series, persons: pl.DataFrame,
                 scope: Scope, updated_at: datetime, half_life_days: float
                 ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One bucket's visitor profiles, and the profiles of the customers whose last device is in
    it (from their devices' visit rows `carried` from earlier buckets and this one's), from the
    numbers of the bucket's people (`persons`: its visitors and its customers); returns them and
    the visit rows to carry on (the devices of the customers in `later`)."""
    pool = pl.concat([carried, visits], how="vertical_relaxed") if carried.height else visits
    waiting = detached(pool.filter(pl.col("customer_id").is_in(later.implode())))
    ready = pool.filter(~pl.col("customer_id").is_in(later.implode())).lazy()
    # A customer in `later` has a device in a later bucket: its profile is built there.
    mine = persons.lazy().filter(~pl.col("person").is_in(("c:" + later).implode()))
    visitors, customers = pl.collect_all([
        build_visitor_profiles(visits.lazy(), persons.lazy(), scope.site_id, scope.as_of, updated_at),
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
