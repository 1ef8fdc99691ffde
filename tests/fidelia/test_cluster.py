"""The cluster DDL rendered from the migrations: every table of the store has its Replicated
local table and its Distributed front sharded by the visitor (or the customer), small tables
are replicated everywhere, and the embedded ClickHouse parses every statement."""

from __future__ import annotations

import re

import pytest

from fidelia.cli import main
from fidelia.cluster import SMALL_TABLES, ClusterSchema
from fidelia.errors import InvalidSetting
from fidelia.store import Store, cluster_ddl, cluster_schema, load_sql, split_statements
from sql import SQL_DIR

CLUSTER = "shop_cluster"
FRONT = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER shop_cluster AS (\w+)\s+"
                   r"ENGINE = Distributed\(shop_cluster, currentDatabase\(\), (\w+), (.+)\)$")
TABLE_USE = re.compile(r"\b(?:FROM|JOIN|INTO|TABLE)\s+(\w+)", re.IGNORECASE)


def store_objects(store: Store) -> dict[str, str]:
    """Name → engine of every table and view the migrations made in the embedded store."""
    rows = store.client.query("SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
                              "AND NOT is_temporary").result_rows
    return {name: engine for name, engine in rows if not name.startswith(".inner")}


def fronts() -> dict[str, tuple[str, str]]:
    """Distributed front → (local table, sharding key), from the rendered DDL."""
    found = {}
    for statement in cluster_ddl(CLUSTER):
        match = FRONT.match(statement)
        if match:
            assert match.group(2) == match.group(3)
            found[match.group(1)] = (match.group(2), match.group(4))
    return found


def test_every_statement_runs_on_the_cluster() -> None:
    statements = cluster_ddl(CLUSTER)
    assert statements
    for statement in statements:
        if re.match(r"^INSERT\b", statement):
            # A migration's back-fill (0005 copies what `events` held) is data, not schema: it runs
            # once, through the Distributed fronts, which route each row to its shard.
            assert "_local" not in statement, statement
            continue
        assert re.match(r"^(CREATE|ALTER)\b", statement), statement
        assert f" ON CLUSTER {CLUSTER}" in statement.splitlines()[0], statement


def test_every_table_of_the_store_has_its_cluster_layout(store: Store) -> None:
    front = fronts()
    ddl = "\n".join(cluster_ddl(CLUSTER))
    for name, engine in store_objects(store).items():
        if engine.endswith("MergeTree") and name in SMALL_TABLES:
            assert re.search(rf"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {CLUSTER}\n\(.*?"
                             rf"ENGINE = Replicated{engine}\('/clickhouse/tables/all/", ddl, re.DOTALL), name
        elif engine.endswith("MergeTree"):
            assert name in front, f"{name} has no Distributed front"
            local = front[name][0]
            assert re.search(rf"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {CLUSTER}\n\(.*?"
                             rf"ENGINE = Replicated{engine}\('/clickhouse/tables/\{{shard\}}/\{{database\}}/{local}', "
                             r"'\{replica\}'", ddl, re.DOTALL), name
        else:
            assert engine in ("View", "MaterializedView"), (name, engine)
            assert re.search(rf"CREATE (MATERIALIZED )?VIEW IF NOT EXISTS {name} ON CLUSTER {CLUSTER}", ddl), name


def test_tables_with_a_visitor_are_sharded_by_the_visitor_hash(store: Store) -> None:
    with_visitor = {row[0] for row in store.client.query(
        "SELECT table FROM system.columns WHERE database = currentDatabase() AND name = 'visitor_id'").result_rows}
    front = fronts()
    sharded_by_visitor = {name for name, (_, key) in front.items() if key == "cityHash64(visitor_id)"}
    assert {"events", "identity_links", "visitor_profiles"} <= sharded_by_visitor
    assert sharded_by_visitor == with_visitor & set(front)
    # no visitor to shard by: each customer's rows on one shard
    assert front["customer_profiles"][1] == front["imported_orders"][1] == "cityHash64(customer_id)"


def test_every_table_the_queries_use_exists_on_the_cluster(store: Store) -> None:
    """Tables named after FROM/JOIN/INTO in the ClickHouse queries of sql/: each is a front, a
    table on every node, or a view (CTE names and DuckDB's snapshot files aside)."""
    objects, front = store_objects(store), fronts()
    used = set()
    for path in SQL_DIR.rglob("*.sql"):
        if "snapshot" not in path.parts:
            used |= {name for name in TABLE_USE.findall(path.read_text()) if name in objects}
    assert {"events", "visitor_profiles", "customer_profiles", "identity_links"} <= used
    for name in used:
        assert name in front or name in SMALL_TABLES or objects[name].endswith("View"), name


def test_the_embedded_clickhouse_parses_every_statement(store: Store) -> None:
    for statement in cluster_ddl(CLUSTER):
        formatted = store.client.query("SELECT formatQuerySingleLine({q:String})",
                                       parameters={"q": statement}).result_rows[0][0]
        assert formatted.startswith("INSERT") or f"ON CLUSTER {CLUSTER}" in formatted


def test_the_parser_refuses_broken_ddl(store: Store) -> None:
    """The check above could fail: a statement the parser cannot read is an error."""
    with pytest.raises(Exception, match="Syntax error"):
        store.client.query("SELECT formatQuerySingleLine({q:String})",
                           parameters={"q": cluster_ddl(CLUSTER)[0].rsplit(")", 1)[0] + "("})


def test_materialized_view_watches_the_local_tables() -> None:
    views = [s for s in cluster_ddl(CLUSTER) if s.startswith("CREATE MATERIALIZED VIEW")]
    assert sorted(re.search(r" TO (\w+) AS", v).group(1) for v in views) == [  # type: ignore[union-attr]
        "identity_links_local", "shop_events_local", "visit_days_local"]
    assert all("FROM events_local" in v for v in views)


def test_alter_changes_local_and_front_and_ttl_only_the_local() -> None:
    alters = [s for s in cluster_ddl(CLUSTER) if s.startswith("ALTER")]
    assert any(s.startswith("ALTER TABLE events_local ON CLUSTER") and "ADD COLUMN" in s for s in alters)
    assert any(s.startswith("ALTER TABLE events ON CLUSTER") and "ADD COLUMN" in s for s in alters)
    ttl = [s for s in alters if "MODIFY TTL" in s]
    assert sorted(s.split()[2] for s in ttl) == ["events_local", "shop_events_local", "visit_days_local"]


def test_a_table_without_shard_key_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="neither visitor_id nor customer_id"):
        ClusterSchema(CLUSTER, ["CREATE TABLE IF NOT EXISTS odd (x UInt8) ENGINE = MergeTree ORDER BY x"])


def test_dry_run_prints_the_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--cluster", CLUSTER, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ENGINE = Distributed(shop_cluster, currentDatabase(), events_local, cityHash64(visitor_id))" in out
    body = out.split("\n", 1)[1].rstrip().removesuffix(";")
    assert body.split(";\n\n") == cluster_ddl(CLUSTER)


def test_bad_cluster_name_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--cluster", "shop;DROP", "--dry-run"]) == 1
    assert "cluster name 'shop;DROP' is not valid" in capsys.readouterr().err


def test_dry_run_without_cluster_says_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--dry-run"]) == 2
    assert "give --cluster NAME" in capsys.readouterr().err


def test_a_cluster_needs_a_server_dsn(tmp_path: object) -> None:
    with pytest.raises(InvalidSetting, match="needs a ClickHouse server"):
        Store(f"chdb://{tmp_path}/never-opened", cluster=CLUSTER)


def erasure_on_cluster() -> list[str]:
    schema = cluster_schema(CLUSTER)
    return [rendered for statement in split_statements(load_sql("privacy/erase"))
            for rendered in schema.render(statement)]


def test_erasure_deletes_from_the_local_tables_on_the_cluster(store: Store) -> None:
    """A DELETE on a Distributed front does not work: on a cluster, `fidelia forget` deletes from
    each sharded table's local table ON CLUSTER, and from every table holding a person's rows."""
    deletes = erasure_on_cluster()
    targets = {re.match(r"^DELETE FROM (\w+) ON CLUSTER shop_cluster WHERE ", s).group(1)  # type: ignore[union-attr]
               for s in deletes}
    holding = {row[0] for row in store.client.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() "
        "AND name IN ('visitor_id', 'customer_id')").result_rows}
    assert targets == {local for name, (local, _) in fronts().items() if name in holding}
    for statement in deletes:
        formatted = store.client.query("SELECT formatQuerySingleLine({q:String})",
                                       parameters={"q": statement}).result_rows[0][0]
        assert formatted.startswith("DELETE FROM ") and "_local ON CLUSTER shop_cluster WHERE" in formatted


def test_erasure_on_one_node_keeps_the_plain_statements() -> None:
    plain = split_statements(load_sql("privacy/erase"))
    assert all(re.match(r"^DELETE FROM (events|shop_events|visit_days|identity_links|imported_orders|visitor_profiles|"
                        r"customer_profiles) WHERE ", s) for s in plain)
    assert [s.split(" WHERE ", 1)[1] for s in erasure_on_cluster()] == [s.split(" WHERE ", 1)[1] for s in plain]


def test_a_delete_from_an_unknown_table_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="not a table of the migrations"):
        cluster_schema(CLUSTER).render("DELETE FROM nowhere WHERE 1")
