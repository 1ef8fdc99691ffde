"""`import-catalog`: a feed loads whole or not at all; listed products are what the recommender offers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fidelia.store import Store
from recommender.catalog_import import InvalidCatalog, import_catalog


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
