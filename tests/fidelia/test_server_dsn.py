"""The server path: the same client code, settings and migrations against a real ClickHouse
server reached through FIDELIA_CLICKHOUSE_DSN. No fake server: these run only when
FIDELIA_TEST_CLICKHOUSE_URL names one (`http://user:password@host:8123`), each run in a fresh
database it drops at the end; FIDELIA_TEST_CLICKHOUSE_CLUSTER adds the cluster layout.
Skipped otherwise, saying why (docs/scaling.md, "What was run here").
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from fidelia.settings import Settings
from fidelia.store import Store, migration_files
from profiles.job import rebuild_profiles
from tests.conftest import LiveServer, count_events, make_settings
from tests.fidelia.test_store import CONTRACT_COLUMNS
from tests.profiles.events import AS_OF, Events, at

SERVER_URL = os.environ.get("FIDELIA_TEST_CLICKHOUSE_URL", "")
CLUSTER = os.environ.get("FIDELIA_TEST_CLICKHOUSE_CLUSTER", "")
pytestmark = pytest.mark.skipif(
    not SERVER_URL, reason="no ClickHouse server here: set FIDELIA_TEST_CLICKHOUSE_URL=http://user:pw@host:8123 "
                           "to run the server-path tests (no modern server can be installed on this machine)")


def database_url(name: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@pytest.fixture(scope="module")
def server_dsn() -> Iterator[str]:
    name = "fidelia_test_" + secrets.token_hex(4)  # an identifier of our own making, never input
    admin = Store(SERVER_URL)
    admin.run_statement(f"CREATE DATABASE {name}" + (f" ON CLUSTER {CLUSTER}" if CLUSTER else ""))
    try:
        yield database_url(name)
    finally:
        admin.run_statement(f"DROP DATABASE IF EXISTS {name}" + (f" ON CLUSTER {CLUSTER}" if CLUSTER else ""))
        admin.close()


@pytest.fixture(scope="module")
def server(server_dsn: str) -> Iterator[Store]:
    store = Store(server_dsn, cluster=CLUSTER)
    store.migrate(retention_days=760)
    yield store
    store.close()


def test_migrations_apply_once_on_the_server(server: Store) -> None:
    assert server.applied_migrations() == {version for version, _, _ in migration_files()}
    assert server.migrate(retention_days=760) == []
    columns = {row[0] for row in server.client.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'events'").result_rows}
    assert columns >= CONTRACT_COLUMNS


@pytest.mark.skipif(not CLUSTER, reason="set FIDELIA_TEST_CLICKHOUSE_CLUSTER to the server's cluster name")
def test_cluster_tables_are_replicated_behind_distributed_fronts(server: Store) -> None:
    engines = dict(server.client.query(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase()").result_rows)
    for name in ("events", "identity_links", "visitor_profiles", "customer_profiles"):
        assert engines[name] == "Distributed"
        assert engines[name + "_local"].startswith("Replicated")


def test_collector_writes_to_the_server(server: Store, tmp_path: Path) -> None:
    site_id = "t" + secrets.token_hex(6)
    live = LiveServer(make_settings(tmp_path, [site_id]), server).start()
    try:
        with live.client() as client:
            body = {"site_id": site_id, "events": [{"type": "pageview", "url": "https://shop.example/r/shoes"}]}
            response = client.post("/collect", json=body)
            assert response.status_code == 204, response.text
        assert live.flush()
    finally:
        live.stop()
    assert count_events(server, site_id) == 1


def test_async_inserts_are_stored_before_the_insert_returns(server_dsn: str) -> None:
    store = Store(server_dsn, cluster=CLUSTER, async_insert=True)
    site_id = "t" + secrets.token_hex(6)
    try:
        Events(site_id).add("v1", at(1)).add("v1", at(0)).insert(store)
        deadline = time.time() + (10 if CLUSTER else 0)  # a Distributed front forwards in the background
        while count_events(store, site_id) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert count_events(store, site_id) == 2
    finally:
        store.close()


@pytest.mark.parametrize("buckets", [1, 3])
def test_profiles_rebuild_on_the_server(server: Store, server_dsn: str, tmp_path: Path, buckets: int) -> None:
    site_id = "t" + secrets.token_hex(6)
    ev = Events(site_id)
    ev.add("v1", at(3), rubrique="shoes").add("v1", at(1), "identify", customer_id="K1")
    ev.purchase("v2", at(2), "o1", 40.0, items=[("p1", "bags")]).add("v2", at(1), "identify", customer_id="K1")
    ev.insert(server)
    settings = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_CLICKHOUSE_DSN": server_dsn,
                                  "FIDELIA_CLICKHOUSE_CLUSTER": CLUSTER, "FIDELIA_PROFILES_BUCKETS": str(buckets)})
    [result] = rebuild_profiles(server, settings, full=True, sites=[site_id], now=AS_OF)
    assert (result.visitors, result.customers) == (2, 1)
    [(visitor_ids, orders)] = server.client.query(
        "SELECT visitor_ids, orders FROM customer_profiles FINAL WHERE site_id = {s:String}",
        parameters={"s": site_id}).result_rows
    assert (sorted(visitor_ids), orders) == (["v1", "v2"], 1)
