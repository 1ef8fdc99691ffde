"""`fidelia import-catalog`: load or update the products a site sells.

A CSV or JSON (array of objects) product feed with `product_id, name, rubrique, price, url` and
optionally `in_stock` and `is_new` (true/false, 1/0). Every row is checked first; a bad row
stops the import with its position and reason and nothing is loaded. Rows are keyed by
product id: a new feed updates the products it lists and leaves the others as they were.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl

from fidelia.errors import FideliaError
from fidelia.store import Store
from recommender.train import trained_key

REQUIRED = ("product_id", "name", "rubrique", "price", "url")
TRUE, FALSE = {"1", "true", "yes", "y"}, {"0", "false", "no", "n", ""}
SCHEMA = {"product_id": pl.String, "name": pl.String, "rubrique": pl.String, "price": pl.Float64,
          "url": pl.String, "in_stock": pl.UInt8, "is_new": pl.UInt8}


class InvalidCatalog(FideliaError):
    """The product feed cannot be read, lacks a column, or holds bad rows."""

    status = 422
    code = "invalid_catalog"


def read_feed(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InvalidCatalog(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text())
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise InvalidCatalog(f"{path}: a JSON feed must be an array of product objects")
            return rows
        return pl.read_csv(path, infer_schema=False).to_dicts()
    except (json.JSONDecodeError, pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InvalidCatalog(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from None


def check_product(row: dict[str, Any]) -> tuple[str | None, tuple | None]:
    missing = [c for c in REQUIRED if row.get(c) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}", None
    try:
        price = float(row["price"])
    except (TypeError, ValueError):
        return f"price {row['price']!r} is not a number", None
    if not math.isfinite(price) or price < 0:
        return f"price {price} must be a finite amount of 0 or more", None
    flags = []
    for name, default in (("in_stock", 1), ("is_new", 0)):
        value = row.get(name)
        raw = "" if value is None else str(value).strip().lower()
        if raw not in TRUE | FALSE:
            return f"{name} {value!r} is not true/false", None
        flags.append(1 if raw in TRUE else 0 if raw else default)
    text = [str(row[c]).strip() for c in ("product_id", "name", "rubrique", "url")]
    if len(text[0]) > 128 or len(text[2]) > 64:
        return "product_id (128) or rubrique (64) is too long", None
    return None, (text[0], text[1], text[2], price, text[3], *flags)


def import_catalog(store: Store, path: Path, site_id: str) -> int:
    """Check every row, then load them all; returns how many products were loaded."""
    rows = read_feed(path)
    unit = "item" if path.suffix.lower() == ".json" else "line"
    good, bad = [], []
    for n, row in enumerate(rows, start=1 if unit == "item" else 2):
        reason, product = check_product(row)
        if product is None:
            bad.append(f"{path.name}, {unit} {n}: {reason}")
        else:
            good.append(product)
    if bad:
        raise InvalidCatalog(f"{len(bad)} bad row(s), nothing loaded:\n  " + "\n  ".join(bad[:20]))
    load_products(store, site_id, good)
    return len(good)


def load_products(store: Store, site_id: str, products: list[tuple]) -> None:
    if products:
        frame = pl.DataFrame(products, schema=SCHEMA, orient="row").with_columns(pl.lit(site_id).alias("site_id"))
        store.insert_arrow("products", frame.to_arrow())
        store.set_meta(trained_key(site_id), "")  # the next profiles run retrains on the new catalog
