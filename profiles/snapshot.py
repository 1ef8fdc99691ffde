"""The serving snapshot: a DuckDB base file, and a small delta file beside it.

In `FIDELIA_DATA_DIR/snapshot/`:

- `profiles.duckdb`, the base: every site's profiles and recommender tables, and a generation
  (a random token, table `snapshot_info`);
- `profiles.<generation>.delta.duckdb`, the delta: the profile rows incremental runs wrote since
  that base, and the customers they removed.

Why two files: an incremental run changes about 1% of the rows, and copying, editing and syncing
the whole base (300 MB at 800k visitors) for each was most of its time. It copies the small
delta instead. A run that rewrites the base (full, bucketed, a retrained recommender, an erasure,
or a delta grown past a quarter of the base) folds the delta in and starts a new generation. A
delta is named after its base's generation, so an old delta is never read over a new base.

Every file is written to a temporary path and renamed into place: a reader sees the old file or
the new one, never half of one. Readers go through `open_snapshot`, which attaches both files
read-only and shows the plain table names (`visitor_profiles`, `customer_profiles`,
`reco_products`, `reco_neighbours`) with the delta's rows over the base's.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from fidelia.store import load_sql, split_statements
from profiles.changes import RowChanges
from profiles.memory import log_memory

log = logging.getLogger(__name__)

# A delta larger than this share of the base, and than MIN_FOLD_BYTES, is folded into a new base
# by the next run (a small snapshot's files are mostly DuckDB's fixed blocks: never worth it).
DELTA_SHARE = 0.25
MIN_FOLD_BYTES = 16 << 20

FileIdentity = tuple[int, int] | None


def delta_path(path: Path, generation: str) -> Path:
    return path.with_name(f"{path.stem}.{generation}.delta{path.suffix}")


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: object) -> None:
    """Each statement of sql/<name>.sql, with the parameters it names."""
    for statement in split_statements(load_sql(name)):
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, used or None)


def _identity(path: Path) -> FileIdentity:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _generation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The generation of the base open as `base` (None for a base from before deltas)."""
    try:
        rows = con.execute(load_sql("snapshot/generation")).fetchall()
    except duckdb.CatalogException:
        return None
    return rows[0][0] if rows else None


@dataclass
class OpenSnapshot:
    """A read-only view of the live snapshot, and what it was opened from."""

    con: duckdb.DuckDBPyConnection
    generation: str | None
    identity: tuple[FileIdentity, FileIdentity]

    def close(self) -> None:
        self.con.close()


def snapshot_identity(path: Path, generation: str | None) -> tuple[FileIdentity, FileIdentity]:
    """What changes when a run publishes: the base file, or the delta of that base's generation."""
    return _identity(path), _identity(delta_path(path, generation)) if generation else None


def open_snapshot(path: Path) -> OpenSnapshot | None:
    """The live snapshot, base and delta merged, or None before the first run wrote one."""
    for _ in range(5):
        before = _identity(path)
        if before is None:
            return None
        con = duckdb.connect()
        try:
            run_sql(con, "snapshot/read_base", path=str(path))
            generation = _generation(con)
            delta = delta_path(path, generation) if generation else None
            delta_identity = _identity(delta) if delta else None
            if delta is not None and delta_identity is not None:
                run_sql(con, "snapshot/read_delta", path=str(delta))
        except duckdb.IOException:  # a file renamed over or removed while opening: try again
            con.close()
            continue
        if _identity(path) == before:
            return OpenSnapshot(con, generation, (before, delta_identity))
        con.close()  # a new base was published meanwhile: its delta may not be this one
    raise RuntimeError(f"the snapshot {path} kept changing while it was being opened")


@contextmanager
def reading(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The live snapshot for one job step; the caller checked that it exists."""
    opened = open_snapshot(path)
    if opened is None:
        raise FileNotFoundError(path)
    try:
        yield opened.con
    finally:
        opened.close()


def current_generation(path: Path) -> str | None:
    try:
        with reading(path) as con:
            return _generation(con)
    except FileNotFoundError:
        return None


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """The snapshot keeps times as plain UTC timestamps: readers need no time-zone database."""
    return frame.with_columns(pl.col(pl.Datetime("ms", "UTC")).dt.replace_time_zone(None))


def write_snapshot(path: Path, site_id: str, changes: RowChanges, full: bool,
                   model: dict[str, pl.DataFrame] | None) -> None:
    """Publish a run's rows: an incremental run patches the delta, any other rewrites the base
    (this site's rows all replaced on a full run) with the recommender's tables when retrained.
    An incremental run that changed nothing leaves both files alone."""
    if not full and model is None and not (changes.visitors.height or changes.customers.height
                                           or changes.gone_customers) and path.exists():
        return
    with SnapshotWriter(path, site_id, delta_if_small=not full and model is None) as writer:
        writer.register(changes.visitors, changes.customers, changes.gone_customers)
        if writer.delta:
            writer.run("snapshot/delta_create")
            writer.run("snapshot/delta_upsert")
        else:
            writer.run("snapshot/create")
            writer.run("snapshot/replace_site" if full else "snapshot/upsert")
        writer.publish(model)


def _delta_fits(path: Path, generation: str | None) -> bool:
    """A delta can take the run: the base has a generation and its delta is still small."""
    if generation is None:
        return False
    delta = delta_path(path, generation)
    return not delta.exists() or delta.stat().st_size <= max(DELTA_SHARE * path.stat().st_size, MIN_FOLD_BYTES)


class SnapshotWriter:
    """A copy of the base (or of the delta), changed in steps, then renamed over it at once.

    Rewriting the base first folds the live delta into the copy and gives it a new generation.
    A bucketed run adds each bucket's profiles as it goes (`add`), so the snapshot never needs
    the whole population in memory; readers still see the old files until `publish`."""

    def __init__(self, path: Path, site_id: str, *, delta_if_small: bool = False, bucket_memory_mib: int = 0
                 ) -> None:
        """`delta_if_small`: patch the delta when the base allows one and it is still small
        (`delta` says which was chosen); otherwise, and by default, write a new base.
        `bucket_memory_mib`: DuckDB's room for a bucket once `add` has cleared the run's rows,
        beside its indexes (`limit_memory`; 0: no limit, DuckDB's default of 80% of RAM)."""
        self.path, self.site_id = path, site_id
        path.parent.mkdir(parents=True, exist_ok=True)
        live_generation = current_generation(path)
        self.delta = delta_if_small and _delta_fits(path, live_generation)
        self.generation = live_generation if self.delta and live_generation else secrets.token_hex(8)
        self.target = delta_path(path, self.generation) if self.delta else path
        self.temporary = self.target.with_name(f".{self.target.name}.{os.getpid()}.tmp")
        self.temporary.unlink(missing_ok=True)
        if self.target.exists():
            shutil.copyfile(self.target, self.temporary)
        self.con = duckdb.connect(str(self.temporary))
        self.bucket_memory_mib = bucket_memory_mib
        if not self.delta:
            live_delta = delta_path(path, live_generation) if live_generation else None
            if live_delta is not None and live_delta.exists():
                run_sql(self.con, "snapshot/fold", path=str(live_delta))
            run_sql(self.con, "snapshot/set_generation", generation=self.generation)
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
        run_sql(self.con, name, site_id=self.site_id, **params)

    def add(self, visitors: pl.DataFrame, customers: pl.DataFrame, full: bool) -> None:
        """One bucket's profiles; the first call also clears what the run replaces."""
        self.register(visitors, customers)
        if not self.started:
            self.run("snapshot/create")
            self.run("snapshot/bucket_start_full" if full else "snapshot/bucket_start")
            self.started = True
            self.limit_memory()
            log_memory(log, "snapshot cleared for the run", self.memory)
        if not full:
            self.run("snapshot/bucket_replace")
        self.run("snapshot/bucket_add")
        self.limit_memory()
        log_memory(log, "snapshot add", self.memory)

    def limit_memory(self) -> None:
        """DuckDB's memory limit for the next bucket: `bucket_memory_mib` of room beside what its
        indexes hold now. Its buffer pool keeps every block written up to its limit (80% of RAM
        by default): unbounded, the buckets' memory grew with the population, and under a fixed
        256 MiB it held up to ~170 MiB at 5M visitors against ~120 at 1M; a fixed limit small
        enough to hold it flat (64 MiB) fails at 5M, once the indexes fill it. Not before the
        run's rows are cleared: building an index over the rows kept (other sites') may need more."""
        if self.bucket_memory_mib:
            index_bytes = self.con.execute(load_sql("snapshot/index_memory")).fetchall()[0][0]
            limit = self.bucket_memory_mib + -(-int(index_bytes) // (1 << 20))
            self.con.execute(load_sql("snapshot/memory_limit"), {"limit": f"{limit}MiB"})

    def memory(self) -> str:
        """What DuckDB holds in memory for this file, by tag (duckdb_memory())."""
        rows = self.con.execute(load_sql("snapshot/memory")).fetchall()
        return "duckdb " + " ".join(f"{tag.lower()} {mib} MiB" for tag, mib in rows)

    def publish(self, model: dict[str, pl.DataFrame] | None) -> None:
        """Rename the copy into place, with the recommender's new tables when it was retrained;
        a new base makes every older delta obsolete, so they go."""
        if model is not None:
            if self.delta:
                raise ValueError("the recommender's tables live in the base")
            self.con.register("incoming_products", model["reco_products"].to_arrow())
            self.con.register("incoming_neighbours", model["reco_neighbours"].to_arrow())
            self.run("snapshot/replace_model")
            log_memory(log, "snapshot recommender tables", self.memory)
        self.con.execute("CHECKPOINT")
        log_memory(log, "snapshot checkpoint", self.memory)
        self.con.close()
        log_memory(log, "snapshot close")
        with self.temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temporary, self.target)
        if not self.delta:
            for old in self.path.parent.glob(delta_path(self.path, "*").name):
                old.unlink(missing_ok=True)
