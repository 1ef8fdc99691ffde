"""Write rebuilt profiles into ClickHouse (the serving snapshot is profiles/snapshot.py's)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from fidelia.store import Store
from profiles.changes import RowChanges


def write_clickhouse(store: Store, site_id: str, changes: RowChanges, full: bool) -> None:
    """Insert the new profile versions, and tombstones for profiles the run no longer produces:
    on a full run every stored profile it did not produce, on an incremental run the customers
    gone since the last run (visitors only leave on a full run)."""
    visitors, customers = changes.visitors, changes.customers
    if full:
        gone_customers = _gone(store, "profiles/stored_customers", site_id, "customer_id", customers)
        gone_visitors = _gone(store, "profiles/stored_visitors", site_id, "visitor_id", visitors)
    else:
        gone_customers, gone_visitors = changes.gone_customers, []
    insert_profiles(store, visitors, customers)
    updated_at = datetime.now(UTC)  # later than the version it replaces, so the tombstone wins
    insert_tombstones(store, site_id, "visitor_profiles", "visitor_id", gone_visitors, updated_at)
    insert_tombstones(store, site_id, "customer_profiles", "customer_id", gone_customers, updated_at)


def insert_profiles(store: Store, visitors: pl.DataFrame, customers: pl.DataFrame) -> None:
    for table, rows in (("visitor_profiles", visitors), ("customer_profiles", customers)):
        if rows.height:
            store.insert_arrow(table, rows.to_arrow())


def insert_tombstones(store: Store, site_id: str, table: str, key: str, gone: list[str], updated_at: object) -> None:
    """A newer, deleted version of each profile in `gone`: FINAL leaves them out from now on."""
    if gone:
        tombstones = pl.DataFrame({"site_id": site_id, key: gone, "is_deleted": 1}).with_columns(
            pl.col("is_deleted").cast(pl.UInt8), pl.lit(updated_at).alias("updated_at"))
        store.insert_arrow(table, tombstones.to_arrow())


def _gone(store: Store, query: str, site_id: str, key: str, produced: pl.DataFrame) -> list[str]:
    stored = {row[0] for row in store.query(query, site_id=site_id)}
    return sorted(stored - set(produced[key].to_list()))
