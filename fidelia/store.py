"""The one module that talks to ClickHouse.

Embedded (`chdb://PATH`, the default) and server (`http://…`) stores go through the same
clickhouse-connect client API and the same SQL, so everything above this module is blind
to where the data lives. Statements are loaded by name from `sql/` and run with bound
parameters only.
"""

from __future__ import annotations

import fcntl
import logging
import re
import threading
from collections.abc import Generator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from fidelia.cluster import ClusterSchema
from fidelia.errors import FideliaError, InvalidSetting, StoreError, StoreLocked, StoreUnavailable
from sql import SQL_DIR

if TYPE_CHECKING:
    from fidelia.settings import Settings

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOCK_HINT = "Cannot lock file"
ARROW_BATCH_ROWS = 8192  # rows per record batch of an insert (ClickHouse squashes them into its blocks)
# Embedded, ClickHouse's threads share the process and its cores with the event loop that answers
# the collector's requests. Its merges and the collector's background inserts run at this nice
# value (lower priority: positive values need no privilege), so on a busy machine the requests
# go first and the storing catches up when the cores are free; the spool holds the rows meanwhile.
BACKGROUND_NICE = 10


@cache
def load_sql(name: str) -> str:
    """The text of `sql/queries/NAME.sql` (or `sql/NAME.sql` for a path like `reports/x`)."""
    path = SQL_DIR / "queries" / f"{name}.sql"
    if not path.exists():
        path = SQL_DIR / f"{name}.sql"
    return path.read_text()


def split_statements(text: str) -> list[str]:
    """Split a migration file on `;` once `--` comments are gone (migrations hold no `;` in strings)."""
    lines = [line.split("--", 1)[0] if not line.lstrip().startswith("--") else "" for line in text.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def arrow_stream(table: pa.Table) -> Generator[bytes, None, None]:
    """`table` as ClickHouse `ArrowStream` input, one record batch of up to ARROW_BATCH_ROWS rows
    at a time. clickhouse-connect's insert_arrow built the whole IPC file in memory (in a buffer
    grown by doubling) and copied it into a bytes object again before writing it out: ~2.5x the
    table on top of it, for each bucket of profiles."""
    chunks: list[bytes] = []
    sink = pa.PythonFile(_ChunkSink(chunks), mode="w")
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=ARROW_BATCH_ROWS):
            writer.write_batch(batch)
            yield b"".join(chunks)
            chunks.clear()
    yield b"".join(chunks)


class _ChunkSink:
    """The write end pyarrow's stream writer fills: what it wrote since the last chunk."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.closed = chunks, False

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def migration_files() -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise FideliaError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append((int(match.group(1)), match.group(2), path))
    return found


def embedded_path(dsn: str) -> Path | None:
    """The absolute directory of an embedded store, or None for a server DSN."""
    if not dsn.startswith("chdb://"):
        return None
    return Path(dsn.removeprefix("chdb://")).expanduser().resolve()


def held_by_another_process(path: Path) -> bool:
    """Whether an embedded ClickHouse in another process holds PATH (it flocks PATH/status).

    Asked before opening, because chdb reports a held store only as a generic start-up
    failure (after printing the real reason on stderr)."""
    status = path / "status"
    if not status.exists():
        return False
    with status.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def cluster_schema(cluster: str) -> ClusterSchema:
    """The layout on CLUSTER of every table the migrations create."""
    creates = split_statements(load_sql("migrations_create"))
    for _, _, path in migration_files():
        creates += split_statements(path.read_text())
    return ClusterSchema(cluster, creates)


# The tables holding events or summing them up, whose TTL follows FIDELIA_RETENTION_DAYS: the
# statement `sql/queries/<table>_set_ttl.sql` of each.
RETENTION_TTL = ("events_set_ttl", "shop_events_set_ttl", "visit_days_set_ttl")
TTL_SUFFIX = "_set_ttl"


def cluster_ddl(cluster: str) -> list[str]:
    """Every statement `fidelia migrate` runs on CLUSTER from an empty database, in order
    (what `fidelia migrate --cluster NAME --dry-run` prints)."""
    schema = cluster_schema(cluster)
    texts = [load_sql("migrations_create"), *(path.read_text() for _, _, path in migration_files()),
             *(load_sql(name) for name in RETENTION_TTL)]
    return [rendered for text in texts for statement in split_statements(text) for rendered in schema.render(statement)]


class Store:
    """A connection to ClickHouse, embedded or server, shared by every part of one process.

    `cluster` names the server's cluster: migrations then create Replicated local tables and
    Distributed fronts ON CLUSTER (fidelia/cluster.py). `async_insert` has a server batch the
    inserts of many collectors itself; each insert still waits for the server's flush, so a
    spool segment is dropped only once its rows are stored.
    """

    def __init__(self, dsn: str, cluster: str = "", async_insert: bool = False) -> None:
        self.dsn = dsn
        self.path = embedded_path(dsn)
        self._lock = threading.Lock()
        if cluster and self.path is not None:
            raise InvalidSetting(f"FIDELIA_CLICKHOUSE_CLUSTER={cluster!r} needs a ClickHouse server: "
                                 "set FIDELIA_CLICKHOUSE_DSN to http(s)://… (the embedded store is one node)")
        self.schema = cluster_schema(cluster) if cluster else None
        server_async = async_insert and self.path is None
        self._insert_settings = {"async_insert": 1, "wait_for_async_insert": 1} if server_async else {}
        try:
            if self.path is not None:
                self.path.mkdir(parents=True, exist_ok=True)
                if held_by_another_process(self.path):
                    raise StoreLocked(self._locked_message())
                nice = {"os_threads_nice_value_merge_mutate": str(BACKGROUND_NICE)}
                self.client = clickhouse_connect.get_client(dsn=f"chdb://{self.path}", chdb_options=nice)
            else:
                self.client = clickhouse_connect.get_client(dsn=dsn)
        except FideliaError:
            raise
        except Exception as exc:
            raise self._explain(exc) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store the settings name (DSN, cluster, insert mode)."""
        return cls(settings.clickhouse_dsn, settings.clickhouse_cluster, settings.clickhouse_async_insert)

    @property
    def embedded(self) -> bool:
        return self.path is not None

    def _explain(self, exc: Exception) -> StoreError:
        text = str(exc)
        if LOCK_HINT in text:
            return StoreLocked(self._locked_message())
        where = self.path if self.embedded else self.dsn.split("@")[-1]
        first_line = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
        if isinstance(exc, OperationalError) or not hasattr(self, "client"):
            return StoreUnavailable(f"ClickHouse at {where} cannot be reached: {first_line}")
        return StoreError(f"ClickHouse at {where} refused a statement: {first_line}")

    def _locked_message(self) -> str:
        return (f"the embedded store {self.path} is held by another process (is `fidelia serve` running?). "
                "Stop it, or point FIDELIA_CLICKHOUSE_DSN at another path.")

    def close(self) -> None:
        self.client.close()

    # --- statements by name ------------------------------------------------------------

    def query(self, name: str, /, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of the named query with its parameters bound."""
        try:
            return [tuple(row) for row in self.client.query(load_sql(name), parameters=params).result_rows]
        except ClickHouseError as exc:
            raise self._explain(exc) from None

    def query_dicts(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        """Rows of the named query as dicts keyed by column name."""
        try:
            result = self.client.query(load_sql(name), parameters=params)
        except ClickHouseError as exc:
            raise self._explain(exc) from None
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def query_arrow(self, name: str, /, *, settings: Mapping[str, Any] | None = None, **params: Any) -> pa.Table:
        """The named query's result as Arrow; `settings` are ClickHouse query settings (a server
        that does not know one ignores it, with a warning from clickhouse-connect)."""
        try:
            return self.client.query_arrow(load_sql(name), parameters=params, settings=dict(settings or {}))
        except ClickHouseError as exc:
            raise self._explain(exc) from None

    def command(self, name: str, /, **params: Any) -> None:
        self.run_statement(load_sql(name), params)

    def run_script(self, name: str, /, **params: Any) -> None:
        """The named `;`-separated statements (e.g. an erasure's DELETEs), rendered for the cluster
        when there is one: on a cluster they change the local tables ON CLUSTER."""
        self.run_ddl(load_sql(name), params)

    def run_ddl(self, text: str, params: Mapping[str, Any] | None = None) -> None:
        """Schema statements (`;`-separated), rendered for the cluster when there is one."""
        for statement in split_statements(text):
            for rendered in self.schema.render(statement) if self.schema else [statement]:
                self.run_statement(rendered, params)

    def run_statement(self, statement: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self.client.command(statement, parameters=dict(params or {}))
        except ClickHouseError as exc:
            raise self._explain(exc) from None

    def insert_arrow(self, table: str, data: pa.Table, dedupe_token: str | None = None,
                     background: bool = False) -> None:
        """Insert an Arrow table; with a token, a second insert with the same token is skipped.
        `background` (the collector's writer): embedded, the insert's own threads run at
        BACKGROUND_NICE, behind the event loop (the calling thread gets its priority back after)."""
        try:
            self.client.raw_insert(table, data.schema.names, arrow_stream(data),
                                   settings=self._write_settings(dedupe_token, background), fmt="ArrowStream")
        except ClickHouseError as exc:
            raise self._explain(exc) from None

    def release_memory(self) -> None:
        """Embedded: hand the pages the engine's allocator freed back to the system. Its jemalloc
        keeps freed pages for seconds (dirty_decay_ms 5000, purged gradually over that time), so the few
        hundred MiB a large query used stayed resident while polars and DuckDB, which have
        allocators of their own, worked on its result. A server's memory is its own: no-op there."""
        if self.embedded:
            self.command("engine_release_memory")

    def insert_msgpack(self, table: str, columns: Sequence[str], values: bytes | bytearray,
                       dedupe_token: str | None = None, background: bool = False) -> None:
        """Insert rows already encoded as ClickHouse `MsgPack` input (each row its values in `columns`
        order, as the collector's spool frames hold them); token and background as insert_arrow."""
        try:
            settings = self._write_settings(dedupe_token, background)
            # A bytearray goes as it is (both backends write any bytes-like object): bytes() of it
            # would copy ~10 MB holding the GIL.
            self.client.raw_insert(table, list(columns), cast(bytes, values), settings=settings, fmt="MsgPack")
        except ClickHouseError as exc:
            raise self._explain(exc) from None

    def _write_settings(self, dedupe_token: str | None, background: bool) -> dict[str, Any]:
        settings: dict[str, Any] = dict(self._insert_settings)
        if dedupe_token:
            settings["insert_deduplication_token"] = dedupe_token
        if background and self.embedded:
            settings["os_thread_priority"] = BACKGROUND_NICE
        return settings

    def tables_without_ttl(self) -> list[str]:
        """The RETENTION_TTL statements whose table (its local table on a cluster) has no TTL."""
        tables = {name.removesuffix(TTL_SUFFIX): name for name in RETENTION_TTL}
        if self.schema:
            tables = {self.schema.tables[t].local: name for t, name in tables.items()}
        return [tables[row[0]] for row in self.query("tables_without_ttl", tables=list(tables))]

    # --- meta and migrations -------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self.query("meta_get", key=key)
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.command("meta_set", key=key, value=value)

    def applied_migrations(self) -> set[int]:
        return {row[0] for row in self.query("migrations_applied")}

    def migrate(self, retention_days: int) -> list[str]:
        """Apply the migrations not applied yet, then the retention TTL: on every table if it
        changed, else on the tables that have none yet (one a later migration created, on a store
        whose retention was recorded already).

        Returns the names of what was applied, empty when the store was up to date.
        """
        with self._lock:
            self.run_ddl(load_sql("migrations_create"))
            applied = self.applied_migrations()
            done = []
            for version, name, path in migration_files():
                if version in applied:
                    continue
                self.run_ddl(path.read_text())
                self.command("migrations_record", version=version, name=name)
                done.append(f"{version:04d}_{name}")
            changed = self.get_meta("retention_days") != str(retention_days)
            missing = [] if changed else self.tables_without_ttl()
            for name in RETENTION_TTL if changed else missing:
                self.run_ddl(load_sql(name), {"retention_days": retention_days})
            if changed:
                self.set_meta("retention_days", str(retention_days))
                done.append(f"retention TTL {retention_days} days")
            done += [f"retention TTL {retention_days} days on {name.removesuffix(TTL_SUFFIX)}" for name in missing]
            return done

