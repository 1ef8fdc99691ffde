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
    with SnapshotWriter(path, site_id) as writer:
        writer.register(changes.visitors, changes.customers, changes.gone_customers)
        writer.run("snapshot/create")
        writer.run("snapshot/replace_site" if full else "snapshot/upsert")
        writer.publish(model)


class SnapshotWriter:
    """A copy of the live snapshot, changed in steps, then renamed over the live file at once.

    A bucketed run adds each bucket's profiles as it goes (`add`), so the snapshot never needs
    the whole population in memory; readers still see the old file until `publish`."""

    def __init__(self, path: Path, site_id: str) -> None:
        self.path, self.site_id = path, site_id
        path.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.temporary.unlink(missing_ok=True)
        if path.exists():
            shutil.copyfile(path, self.temporary)
        self.con = duckdb.connect(str(self.temporary))
        self.started = False

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()
        self.temporary.unlink(missing_ok=True)  # published already, or abandoned on an error

    def register(self, visitors: pl.DataFrame, customers: pl.DataFrame, gone_customers: list[str] | None = None
                 ) -> None:
        self.con.register("incoming_visitors", naive_utc(visitors).to_arrow())
        self.con.register("incoming_customers", naive_utc(customers).to_arrow())
        self.con.register("gone_customers", pl.DataFrame({"customer_id": gone_customers or []},
                                                         schema={"customer_id": pl.String}).to_arrow())

    def run(self, name: str, **params: object) -> None:
        values = {"site_id": self.site_id, **params}
        for statement in split_statements(load_sql(name)):
            used = {k: v for k, v in values.items() if f"${k}" in statement}
            self.con.execute(statement, used or None)

    def add(self, visitors: pl.DataFrame, customers: pl.DataFrame, full: bool) -> None:
        """One bucket's profiles; the first call also clears what the run replaces."""
        self.register(visitors, customers)
        if not self.started:
            self.run("snapshot/create")
            self.run("snapshot/bucket_start", full=int(full))
            self.started = True
        self.run("snapshot/bucket_add")

    def publish(self, model: dict[str, pl.DataFrame] | None) -> None:
        """Rename the copy into place, with the recommender's new tables when it was retrained."""
        if model is not None:
            self.con.register("incoming_products", model["reco_products"].to_arrow())
            self.con.register("incoming_neighbours", model["reco_neighbours"].to_arrow())
            self.run("snapshot/replace_model")
        self.con.execute("CHECKPOINT")
        self.con.close()
        with self.temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temporary, self.path)
