"""`import-catalog`: a feed loads whole or not at all; listed products are what the recommender offers,
from the next profiles run on."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from fidelia.settings import Settings
from fidelia.store import Store
from profiles.job import rebuild_profiles
from profiles.snapshot import reading
from recommender.catalog_import import InvalidCatalog, import_catalog
from tests.conftest import make_settings
from tests.profiles.events import AS_OF, Events, at


def listed(store: Store, site_id: str) -> dict[str, tuple]:
    rows = store.client.query("SELECT product_id, name, price, in_stock, is_new FROM products FINAL "
                              "WHERE site_id = {s:String}", parameters={"s": site_id}).result_rows
    return {r[0]: r[1:] for r in rows}


def test_csv_and_json_feeds_load_and_update(store: Store, site_id: str, tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("product_id,name,rubrique,price,url,in_stock,is_new\n"
                    "a1,Bottines,chaussures,89.9,/p/a1,true,\nb2,Cabas,sacs,49,/p/b2,0,1\n")
    assert import_catalog(store, feed, site_id) == 2
    update = tmp_path / "update.json"
    update.write_text(json.dumps([{"product_id": "a1", "name": "Bottines noires", "rubrique": "chaussures",
                                   "price": 79.9, "url": "/p/a1"}]))
    assert import_catalog(store, update, site_id) == 1
    assert listed(store, site_id) == {"a1": ("Bottines noires", 79.9, 1, 0), "b2": ("Cabas", 49.0, 0, 1)}


def test_a_bad_row_loads_nothing(store: Store, site_id: str, tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("product_id,name,rubrique,price,url\na1,A,x,10,/a\nb2,B,x,cheap,/b\nc3,,x,1,/c\n")
    with pytest.raises(InvalidCatalog) as caught:
        import_catalog(store, feed, site_id)
    assert "feed.csv, line 3: price 'cheap' is not a number" in caught.value.message
    assert "line 4: missing name" in caught.value.message
    assert listed(store, site_id) == {}


def snapshot_products(settings: Settings, site_id: str) -> set[str]:
    with reading(settings.snapshot_path) as con:
        rows = con.execute("SELECT product_id FROM reco_products WHERE site_id = ?", [site_id]).fetchall()
    return {r[0] for r in rows}


def test_incremental_runs_keep_the_model_until_it_is_due_or_the_catalog_changes(
        store: Store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id])  # FIDELIA_RECO_RETRAIN_MINUTES: 6 hours
    Events(site_id).add("v1", at(1), "product_view", product_id="a1", rubrique="shoes").insert(store)
    rebuild_profiles(store, settings, full=True, sites=[site_id], now=AS_OF)
    assert snapshot_products(settings, site_id) == {"a1"}
    Events(site_id).add("v2", at(0, minutes=-30), "product_view", product_id="b2", rubrique="bags").insert(store)
    [result] = rebuild_profiles(store, settings, sites=[site_id], now=AS_OF + timedelta(hours=1))
    assert result.mode == "incremental" and result.visitors == 1  # v2's profile, not the model
    assert snapshot_products(settings, site_id) == {"a1"}
    feed = tmp_path / "feed.csv"
    feed.write_text("product_id,name,rubrique,price,url\nc3,Chapeau,hats,20,/p/c3\n")
    import_catalog(store, feed, site_id)
    rebuild_profiles(store, settings, sites=[site_id], now=AS_OF + timedelta(hours=2))
    assert snapshot_products(settings, site_id) == {"a1", "b2", "c3"}
    Events(site_id).add("v3", at(0, minutes=-10), "product_view", product_id="d4", rubrique="hats").insert(store)
    rebuild_profiles(store, settings, sites=[site_id], now=AS_OF + timedelta(hours=9))  # model 7 hours old
    assert snapshot_products(settings, site_id) == {"a1", "b2", "c3", "d4"}
