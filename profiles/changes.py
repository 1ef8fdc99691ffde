"""What an incremental run rebuilds: visitors with new events, and the people whose numbers moved.

A profile row is the visitor's own visits plus their person's loyalty numbers. An incremental
run recomputes from events only the visitors with new events, and recomputes every person's
numbers from the orders and feedback (few rows, cheap): recency, RFM ranks and attrition move
with the date and the population. Most people come out the same as last time, so each run keeps
a fingerprint of every person's numbers — a 64-bit hash, in
`FIDELIA_DATA_DIR/profiles/<site>.persons.parquet` — and the next run rebuilds only:

- the visitors with new events;
- the visitors and customers whose person's fingerprint changed, appeared or disappeared;
- the customers a visitor with new events belongs to, now or before (their devices changed).

The unchanged visit part of those rows is read back from the serving snapshot (base and delta,
profiles/snapshot.py), which holds what the last run wrote. What ClickHouse and the snapshot
hold afterwards is what a full run writes (property-tested). The fingerprints are trusted only
when the last run finished: they are removed before a run writes anything and saved once it
wrote everything, so a run that died half-way, an erasure or a missing file makes the next run
full. Hashes may differ between polars
versions: after an upgrade one run rebuilds every person, which is correct, only slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from fidelia.store import load_sql
from profiles.build import LOYALTY_COLUMNS

HASH_SEED = 0
# What profiles/visits.sql gives per visitor, which is what the snapshot keeps of it.
STORED_VISIT_COLUMNS = ["visitor_id", "customer_id", "first_seen", "last_seen", "visits", "pageviews", "last_visits",
                        "interests", "recent_products"]


@dataclass(frozen=True)
class RowChanges:
    """The rows a run writes, and the customers it no longer produces."""

    visitors: pl.DataFrame
    customers: pl.DataFrame
    gone_customers: list[str]


@dataclass(frozen=True)
class Rebuild:
    """Who an incremental run rebuilds (besides the visitors with new events), and who may be gone."""

    visitors: list[str]  # visitors without new events whose own person's numbers changed
    customers: list[str]  # customers rebuilt whole: numbers changed, or a device of theirs did
    maybe_gone: set[str]  # customers that may no longer exist: no person left, or a device moved


def state_path(data_dir: Path, site_id: str) -> Path:
    return data_dir / "profiles" / f"{site_id}.persons.parquet"


def fingerprints(persons: pl.DataFrame) -> pl.DataFrame:
    """person → hash of the loyalty numbers a profile shows."""
    shown = [c for c in LOYALTY_COLUMNS if c in persons.columns]
    return persons.select("person", pl.struct(shown).hash(seed=HASH_SEED).alias("hash"))


def save_state(path: Path, persons: pl.DataFrame) -> None:
    """Remember this run's persons; written to a temporary name, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fingerprints(persons).write_parquet(temporary, compression="lz4")
    temporary.replace(path)


def load_state(path: Path) -> pl.DataFrame | None:
    """The last finished run's fingerprints, or None when there is none to trust."""
    try:
        return pl.read_parquet(path)
    except (FileNotFoundError, pl.exceptions.ComputeError, OSError):
        return None


def forget_state(path: Path) -> None:
    """Make the next run full: before a run writes, and after an erasure."""
    path.unlink(missing_ok=True)


def plan(persons: pl.DataFrame, previous: pl.DataFrame, recomputed: pl.DataFrame,
         linked_before: list[str]) -> Rebuild:
    """Who to rebuild, from this run's persons, the last run's fingerprints, the visitors
    recomputed from events (visitor_id, customer_id) and the customers those were linked to."""
    now = fingerprints(persons)
    moved = pl.concat([now.join(previous, on=["person", "hash"], how="anti"),
                       previous.join(now, on="person", how="anti")])["person"]
    people = set(moved.to_list())
    fresh = set(recomputed["visitor_id"].to_list())
    customers = {p[2:] for p in people if p.startswith("c:")}
    devices_now = set(recomputed.filter(pl.col("customer_id") != "")["customer_id"].to_list())
    disappeared = {p[2:] for p in set(previous["person"].to_list()) - set(now["person"].to_list())
                   if p.startswith("c:")}
    return Rebuild(
        visitors=sorted({p[2:] for p in people if p.startswith("v:")} - fresh),
        customers=sorted(customers | devices_now | set(linked_before)),
        maybe_gone=disappeared | set(linked_before),
    )


def stored_visits(snapshot: duckdb.DuckDBPyConnection, site_id: str, rebuild: Rebuild,
                  recomputed: list[str]) -> pl.DataFrame:
    """The visit part, as the last run wrote it, of the rows to rebuild that have no new events."""
    _register(snapshot, wanted_visitors=("visitor_id", rebuild.visitors),
              wanted_customers=("customer_id", rebuild.customers), recomputed=("visitor_id", recomputed))
    stored = pl.from_arrow(snapshot.sql(load_sql("snapshot/stored_visits"), params={"site_id": site_id})
                           .to_arrow_table())
    if not isinstance(stored, pl.DataFrame):
        raise TypeError("snapshot/stored_visits returned a series")
    # The snapshot keeps plain UTC times; the job works in aware ones.
    return stored.select(STORED_VISIT_COLUMNS).with_columns(pl.col(pl.Datetime).dt.replace_time_zone("UTC"))


def linked_before(snapshot: duckdb.DuckDBPyConnection, site_id: str, recomputed: list[str]) -> list[str]:
    """The customers the visitors with new events belonged to at the last run."""
    _register(snapshot, recomputed=("visitor_id", recomputed))
    return [row[0] for row in snapshot.execute(load_sql("snapshot/linked_before"), {"site_id": site_id}).fetchall()]


def _register(snapshot: duckdb.DuckDBPyConnection, **keys: tuple[str, list[str]]) -> None:
    """Each list of keys as a one-column table the snapshot queries join on."""
    for table, (column, values) in keys.items():
        snapshot.register(table, pl.DataFrame({column: values}, schema={column: pl.String}).to_arrow())
