"""The store on real embedded ClickHouse: migrations, the public events columns, the table layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collector.enrich import rows_to_arrow
from fidelia.store import ARROW_BATCH_ROWS, BACKGROUND_NICE, Store, migration_files, split_statements
from tests.conftest import count_events

# ../shared/DESIGN.md, "Events table": analysts query these names directly.
CONTRACT_COLUMNS = {
    "event_id", "ts", "received_at", "site_id", "visitor_id", "session_id", "customer_id", "event_type", "url",
    "path", "referrer", "utm_source", "utm_medium", "utm_campaign", "rubrique", "product_id", "price", "quantity",
    "order_id", "revenue", "browser", "os", "device_type", "is_bot", "consent", "props",
}


def test_events_table_has_the_contract_columns(store: Store) -> None:
    columns = dict(store.client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'events'").result_rows)
    assert set(columns) >= CONTRACT_COLUMNS
    assert columns["is_bot"] == "UInt8"
    assert columns["event_type"] == columns["rubrique"] == "LowCardinality(String)"


def test_events_table_layout_starts_with_the_tenant(store: Store) -> None:
    sorting, partition, create = store.client.query(
        "SELECT sorting_key, partition_key, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'events'").result_rows[0]
    assert sorting == "site_id, visitor_id, ts"
    assert partition == "toYYYYMM(ts)"
    assert "TTL toDateTime(ts) + toIntervalDay(" in create


def test_migrate_twice_changes_nothing(store: Store) -> None:
    assert store.migrate(retention_days=760) == []
    assert store.applied_migrations() == {version for version, _, _ in migration_files()}
    assert store.tables_without_ttl() == []  # so no TTL is applied again (it rewrites parts)


def test_changed_retention_is_applied_once(store: Store) -> None:
    try:
        assert store.migrate(retention_days=400) == ["retention TTL 400 days"]
        assert store.migrate(retention_days=400) == []
        create = store.client.query("SELECT create_table_query FROM system.tables "
                                    "WHERE database = currentDatabase() AND name = 'events'").result_rows[0][0]
        assert "400" in create
    finally:
        store.migrate(retention_days=760)


# A store migrated before visit_days existed (its retention recorded already), and one whose
# shop_events lost its TTL that way (migrated to 0005 before the fix), then upgraded.
UPGRADE = """
import sys
from fidelia.store import Store
store = Store("chdb://" + sys.argv[1])
store.migrate(retention_days=400)
store.client.command("DROP VIEW visit_days_from_events")
store.client.command("DROP TABLE visit_days")
store.client.command("DELETE FROM schema_migrations WHERE version = 6")
store.client.command("ALTER TABLE shop_events REMOVE TTL")
print(store.migrate(retention_days=400))
for table in ("visit_days", "shop_events"):
    print(store.client.query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                             "AND name = {t:String}", parameters={"t": table}).result_rows[0][0])
"""


def test_tables_without_their_retention_ttl_get_it_at_the_next_migrate_6(tmp_path: Path) -> None:
    # The TTL used to be applied only when the retention changed: a table created by a later
    # migration on a store whose retention was recorded kept its rows for ever.
    # (Its own process: chdb holds one store path per process.)
    out = subprocess.run([sys.executable, "-c", UPGRADE, str(tmp_path / "clickhouse")], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0] == ("['0006_visit_days', 'retention TTL 400 days on shop_events', "
                      "'retention TTL 400 days on visit_days']")
    assert "TTL toDateTime(day, 'UTC') + toIntervalDay(_CAST(400, 'UInt32'))" in out[1]
    assert "TTL toDateTime(ts) + toIntervalDay(_CAST(400, 'UInt32'))" in out[2]


def test_split_statements_ignores_comments() -> None:
    text = "-- a; comment\nCREATE TABLE a (x UInt8) ENGINE = Memory; -- trailing; note\n\nSELECT 1;\n"
    assert split_statements(text) == ["CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1"]


def test_named_query_binds_parameters(store: Store) -> None:
    store.set_meta("test-key", "it's; DROP TABLE events")
    assert store.get_meta("test-key") == "it's; DROP TABLE events"
    assert store.get_meta("never-set") is None


def test_embedded_merges_run_behind_the_event_loop(store: Store) -> None:
    rows = store.client.query("SELECT value FROM system.server_settings "
                              "WHERE name = 'os_threads_nice_value_merge_mutate'").result_rows
    assert rows == [(str(BACKGROUND_NICE),)]


def test_background_insert_lands_once_per_token(store: Store) -> None:
    site_id = "bg" + os.urandom(4).hex()
    rows = [(os.urandom(16), 1_763_791_200_000 + i, 1_763_791_200_000, site_id, "v", "s", "", "pageview", "", "", "",
             "", "", "", "", "", None, None, "", None, "", "", None, None, "", "", "", 0, "implied", "")
            for i in range(3)]
    token = "bg-" + site_id
    for _ in range(2):
        store.insert_arrow("events", rows_to_arrow(rows), dedupe_token=token, background=True)
    assert count_events(store, site_id) == 3


def test_arrow_insert_in_several_batches_lands_once_per_token(store: Store) -> None:
    # More rows than one record batch of the stream (ARROW_BATCH_ROWS): the engine squashes the
    # batches into one block, so the token still covers the whole insert.
    site_id = "ab" + os.urandom(4).hex()
    count = 2 * ARROW_BATCH_ROWS + 7
    rows = [(os.urandom(16), 1_763_791_200_000 + i, 1_763_791_200_000, site_id, f"v{i}", "s", "", "pageview", "", "",
             "", "", "", "", "", "", None, None, "", None, "", "", None, None, "", "", "", 0, "implied", "")
            for i in range(count)]
    for _ in range(2):
        store.insert_arrow("events", rows_to_arrow(rows), dedupe_token="ab-" + site_id)
    store.release_memory()  # embedded: the engine's freed pages go back; its data stays
    assert count_events(store, site_id) == count
