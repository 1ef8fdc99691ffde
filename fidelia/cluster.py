"""The cluster schema: the same `sql/migrations` rendered for a ClickHouse cluster.

With `FIDELIA_CLICKHOUSE_CLUSTER=NAME`, every `CREATE TABLE name …` of a migration becomes two
tables, both `ON CLUSTER NAME`:

- `name_local`, the data, with the Replicated twin of its engine (a `MergeTree` becomes
  `ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/name_local', '{replica}')`, a
  `ReplacingMergeTree(v, d)` becomes `ReplicatedReplacingMergeTree(<path>, '{replica}', v, d)`);
- `name`, a `Distributed` front over the local tables of every shard, so that the queries in
  `sql/` run unchanged against the front's name.

The sharding key is the visitor (`cityHash64(visitor_id)`) for every table with a
`visitor_id` column: a visitor's events, identity links and profile all live on one shard, so
per-visitor aggregation and `FINAL` are exact shard by shard. A table keyed by the customer
without a visitor (`customer_profiles`, `imported_orders`) is sharded by `cityHash64(customer_id)`.
Small tables read whole by every query (the catalog, the meta facts, the migration ledger) are
not sharded: one replicated table on every node (`SMALL_TABLES`), read locally.

Views read through the fronts; a materialized view fires on the inserts into the local table of
its source, on the shard that received them, and writes to the local table of its target (both
sharded by the visitor, so the rows stay on their shard). `ALTER TABLE` changes both the local
table and its front; a TTL goes on the local table only (a Distributed table stores nothing).
A lightweight `DELETE FROM name WHERE …` (erasure, sql/privacy/erase.sql) goes to `name_local ON
CLUSTER`: a Distributed table cannot delete, and every shard deletes its own rows.
Identifiers come only from the migrations and from a cluster name checked by `CLUSTER_NAME`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fidelia.errors import InvalidSetting

CLUSTER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LOCAL_SUFFIX = "_local"
SHARD_PATH = "/clickhouse/tables/{shard}/{database}/%s"
# A table on every node has one replica set for the whole cluster: no {shard} in the path, and
# the replica name made unique across shards.
EVERYWHERE_PATH = "/clickhouse/tables/all/{database}/%s"
SMALL_TABLES = frozenset({"products", "fidelia_meta", "schema_migrations"})
SHARD_KEYS = (("visitor_id", "cityHash64(visitor_id)"), ("customer_id", "cityHash64(customer_id)"))

CREATE_TABLE = re.compile(r"^CREATE TABLE (IF NOT EXISTS )?(\w+)\s*\(", re.IGNORECASE)
CREATE_VIEW = re.compile(r"^CREATE (MATERIALIZED )?VIEW (IF NOT EXISTS )?(\w+)(\s+TO\s+(\w+))?", re.IGNORECASE)
ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+)\s+(.*)$", re.IGNORECASE | re.DOTALL)
DELETE_FROM = re.compile(r"^DELETE FROM (\w+)\s+(WHERE\b.*)$", re.IGNORECASE | re.DOTALL)
ENGINE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)(?:\s*\(([^()]*)\))?", re.IGNORECASE)
COLUMN = r"^\s*%s\s+\w"


@dataclass(frozen=True)
class ClusterTable:
    """How one table of the migrations is laid out on the cluster."""

    name: str
    shard_key: str | None  # None: a small table, replicated on every node

    @property
    def local(self) -> str:
        return self.name + LOCAL_SUFFIX if self.shard_key else self.name


def check_cluster_name(name: str) -> str:
    if not CLUSTER_NAME.match(name):
        raise InvalidSetting(f"cluster name {name!r} is not valid: letters, digits and _ only, "
                             "as in the server's <remote_servers> section")
    return name


def table_layout(create: str) -> ClusterTable | None:
    """The layout of a `CREATE TABLE` statement's table, None for any other statement."""
    match = CREATE_TABLE.match(create)
    if not match:
        return None
    name = match.group(2)
    if name in SMALL_TABLES:
        return ClusterTable(name, None)
    for column, key in SHARD_KEYS:
        if re.search(COLUMN % column, create, re.MULTILINE):
            return ClusterTable(name, key)
    raise InvalidSetting(f"table {name} has neither visitor_id nor customer_id to shard by: "
                         f"add it to fidelia.cluster.SMALL_TABLES if every node should hold all of it")


class ClusterSchema:
    """Renders migration statements for one cluster, knowing the layout of every table."""

    def __init__(self, cluster: str, creates: list[str]) -> None:
        self.cluster = check_cluster_name(cluster)
        self.tables: dict[str, ClusterTable] = {}
        for statement in creates:
            layout = table_layout(statement)
            if layout:
                self.tables[layout.name] = layout

    @property
    def sharded(self) -> list[ClusterTable]:
        return [t for t in self.tables.values() if t.shard_key]

    def render(self, statement: str) -> list[str]:
        """The cluster statements standing for one single-node statement, in the order to run them."""
        if CREATE_TABLE.match(statement):
            return self._create_table(statement)
        if CREATE_VIEW.match(statement):
            return [self._create_view(statement)]
        if ALTER_TABLE.match(statement):
            return self._alter(statement)
        if DELETE_FROM.match(statement):
            return [self._delete(statement)]
        return [statement]  # INSERT, SELECT: plain statements through the fronts

    def _create_table(self, statement: str) -> list[str]:
        layout = table_layout(statement)
        if layout is None:
            raise ValueError(statement)
        engine = ENGINE.search(statement)
        if engine is None:
            raise InvalidSetting(f"table {layout.name}: only MergeTree-family engines can be replicated")
        path = (SHARD_PATH if layout.shard_key else EVERYWHERE_PATH) % layout.local
        replica = "{replica}" if layout.shard_key else "{shard}-{replica}"
        args = ", ".join(a for a in (f"'{path}'", f"'{replica}'", (engine.group(2) or "").strip()) if a)
        local = statement[:engine.start()] + f"ENGINE = Replicated{engine.group(1)}({args})" + statement[engine.end():]
        local = local.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
        head = f"CREATE TABLE {{}}{layout.local} ON CLUSTER {self.cluster}\n("
        local = CREATE_TABLE.sub(lambda m: head.format(m.group(1) or ""), local, count=1)
        if not layout.shard_key:
            return [local]
        front = (f"CREATE TABLE IF NOT EXISTS {layout.name} ON CLUSTER {self.cluster} AS {layout.local}\n"
                 f"ENGINE = Distributed({self.cluster}, currentDatabase(), {layout.local}, {layout.shard_key})")
        return [local, front]

    def _create_view(self, statement: str) -> str:
        match = CREATE_VIEW.match(statement)
        if match is None:
            raise ValueError(statement)
        materialized, exists, name, target = match.group(1), match.group(2) or "", match.group(3), match.group(5)
        head = f"CREATE {materialized or ''}VIEW {exists}{name} ON CLUSTER {self.cluster}"
        body = statement[match.end():]
        if not materialized:
            return head + body  # a plain view reads through the Distributed fronts
        # A materialized view is an insert trigger: it must watch the local table the rows land in.
        for table in self.sharded:
            body = re.sub(rf"\b{table.name}\b", table.local, body)
        to = f" TO {self.tables[target].local if target in self.tables else target}" if target else ""
        return head + to + body

    def _alter(self, statement: str) -> list[str]:
        match = ALTER_TABLE.match(statement)
        if match is None:
            raise ValueError(statement)
        table, action = self.tables.get(match.group(1)), match.group(2)
        if table is None or not table.shard_key:
            return [f"ALTER TABLE {match.group(1)} ON CLUSTER {self.cluster} {action}"]
        local = f"ALTER TABLE {table.local} ON CLUSTER {self.cluster} {action}"
        if re.match(r"MODIFY\s+TTL", action, re.IGNORECASE):
            return [local]
        return [local, f"ALTER TABLE {table.name} ON CLUSTER {self.cluster} {action}"]

    def _delete(self, statement: str) -> str:
        match = DELETE_FROM.match(statement)
        if match is None:
            raise ValueError(statement)
        table = self.tables.get(match.group(1))
        if table is None:
            raise InvalidSetting(f"DELETE FROM {match.group(1)}: not a table of the migrations")
        # Each shard deletes its own rows; on a table on every node, each node its copy (a
        # replicated mutation is run once per shard by the DDL queue).
        return f"DELETE FROM {table.local} ON CLUSTER {self.cluster} {match.group(2)}"
