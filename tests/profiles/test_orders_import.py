"""`import-orders`: bad rows reported with their line, nothing half-loaded, re-import idempotent,
imported history counted in the profiles."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.job import rebuild_profiles
from profiles.orders_import import InvalidOrdersFile, import_orders
from tests.profiles.events import AS_OF, Events, at

GOOD = """customer_id,order_id,ordered_at,amount,items
K1,A-1,2026-01-10T10:00:00,120.50,"[{""product_id"": ""p1"", ""rubrique"": ""shoes""}]"
K1,A-2,2026-03-02,80,
K2,A-3,2026-05-20 09:30:00+02:00,15.00,
"""


def imported(store: Store, site_id: str) -> int:
    return int(store.client.query("SELECT count() FROM imported_orders FINAL WHERE site_id = {s:String}",
                                  parameters={"s": site_id}).result_rows[0][0])


def test_good_file_loads_and_reimport_changes_nothing(store: Store, site_id: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(GOOD)
    assert import_orders(store, path, site_id).loaded == 3
    assert import_orders(store, path, site_id).loaded == 3
    assert imported(store, site_id) == 3


def test_bad_rows_are_reported_by_line_and_nothing_loads(store: Store, site_id: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(GOOD + "K3,A-4,yesterday,10,\n,A-5,2026-01-01,10,\nK4,A-6,2026-01-01,-3,\nK1,A-1,2026-01-01,1,\n")
    with pytest.raises(InvalidOrdersFile) as caught:
        import_orders(store, path, site_id)
    message = caught.value.message
    assert "4 bad row(s), nothing loaded" in message
    assert "orders.csv, line 5: ordered_at 'yesterday'" in message
    assert "line 6: customer_id must be" in message
    assert "line 7: amount -3.0" in message
    assert "line 8: order_id 'A-1' already at line 2" in message
    assert imported(store, site_id) == 0
    report = import_orders(store, path, site_id, skip_bad_rows=True)
    assert (report.loaded, len(report.skipped)) == (3, 4)
    assert imported(store, site_id) == 3


def test_missing_column_and_unreadable_file(store: Store, site_id: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer,order_id,ordered_at\nK,1,2026-01-01\n")
    with pytest.raises(InvalidOrdersFile, match="missing column\\(s\\) customer_id, amount"):
        import_orders(store, path, site_id)
    with pytest.raises(InvalidOrdersFile, match="no such file"):
        import_orders(store, tmp_path / "none.csv", site_id)
    bad = tmp_path / "orders.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidOrdersFile, match="cannot be read as Parquet"):
        import_orders(store, bad, site_id)


def test_imported_history_counts_in_profiles(store: Store, site_id: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame({"customer_id": ["K1", "K1", "K9"], "order_id": ["H-1", "H-2", "H-3"],
                  "ordered_at": ["2026-01-10", "2026-03-02", "2026-04-01"], "amount": [100.0, 50.0, 30.0]}
                 ).write_parquet(path)
    assert import_orders(store, path, site_id).loaded == 3
    ev = Events(site_id)
    ev.add("v1", at(5), rubrique="shoes").add("v1", at(5, minutes=1), "identify", customer_id="K1")
    ev.purchase("v1", at(4), "H-2", 50.0)  # the same order, also tracked: counted once
    ev.insert(store)
    rebuild_profiles(store, Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path)}), full=True, as_of=AS_OF,
                     sites=[site_id])
    visitor = store.client.query("SELECT orders, monetary, lifecycle_stage FROM visitor_profiles FINAL "
                                 "WHERE site_id = {s:String}", parameters={"s": site_id}).result_rows
    assert visitor == [(2, 150.0, "repeat_customer")]
    customers = dict(store.client.query("SELECT customer_id, orders FROM customer_profiles FINAL "
                                        "WHERE site_id = {s:String}", parameters={"s": site_id}).result_rows)
    assert customers == {"K1": 2, "K9": 1}  # K9 bought offline only: a customer profile without visits
