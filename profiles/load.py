"""Write rebuilt profiles: into ClickHouse, and into the DuckDB serving snapshot.

The snapshot is written to a temporary file next to the live one and renamed into place, so
an API worker never opens a half-written file: it sees the old snapshot or the new one.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from fidelia.store import Store, load_sql, split_statements
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
    for table, rows in (("visitor_profiles", visitors), ("customer_profiles", customers)):
        if rows.height:
            store.insert_arrow(table, rows.to_arrow())
    updated_at = datetime.now(UTC)  # later than the version it replaces, so the tombstone wins
    for table, key, gone in (("visitor_profiles", "visitor_id", gone_visitors),
                             ("customer_profiles", "customer_id", gone_customers)):
        if gone:
            tombstones = pl.DataFrame({"site_id": site_id, key: gone, "is_deleted": 1}).with_columns(
                pl.col("is_deleted").cast(pl.UInt8), pl.lit(updated_at).alias("updated_at"))
            store.insert_arrow(table, tombstones.to_arrow())


def _gone(store: Store, query: str, site_id: str, key: str, produced: pl.DataFrame) -> list[str]:
    stored = {row[0] for row in store.query(query, site_id=site_id)}
    return sorted(stored - set(produced[key].to_list()))


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """The snapshot keeps times as plain UTC timestamps: readers need no time-zone database."""
    return frame.with_columns(pl.col(pl.Datetime("ms", "UTC")).dt.replace_time_zone(None))


def write_snapshot(path: Path, site_id: str, changes: RowChanges, full: bool,
                   model: dict[str, pl.DataFrame] | None) -> None:
    """Copy the live snapshot, replace this site's profile rows (all on a full run, the changed
    ones otherwise) and, when retrained, its recommender tables, then atomically rename the copy
    over the live file. An incremental run that changed nothing leaves the live file alone."""
    if not full and model is None and not (changes.visitors.height or changes.customers.height
                                           or changes.gone_customers) and path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    if path.exists():
        shutil.copyfile(path, temporary)
    con = duckdb.connect(str(temporary))
    try:
        con.register("incoming_visitors", naive_utc(changes.visitors).to_arrow())
        con.register("incoming_customers", naive_utc(changes.customers).to_arrow())
        con.register("gone_customers", pl.DataFrame({"customer_id": changes.gone_customers},
                                                    schema={"customer_id": pl.String}).to_arrow())
        names = ["snapshot/create", "snapshot/replace_site" if full else "snapshot/upsert"]
        if model is not None:
            con.register("incoming_products", model["reco_products"].to_arrow())
            con.register("incoming_neighbours", model["reco_neighbours"].to_arrow())
            names.insert(1, "snapshot/replace_model")
        for name in names:
            for statement in split_statements(load_sql(name)):
                con.execute(statement, {"site_id": site_id} if "$site_id" in statement else None)
    finally:
        con.close()
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
