"""`fidelia import-orders`: a shop's past orders, so its history counts from day one.

A CSV or Parquet file with `customer_id, order_id, ordered_at, amount` and optionally `items`
(a JSON array of `{product_id, price, quantity, rubrique}`). Every row is checked first; a bad
row stops the import with its line and the reason, and nothing is loaded, unless
`--skip-bad-rows`. Orders are keyed by order id, so importing a file twice changes nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from fidelia.errors import FideliaError
from fidelia.store import Store

REQUIRED = ("customer_id", "order_id", "ordered_at", "amount")
MAX_ID = 128
MAX_REPORTED = 20


class InvalidOrdersFile(FideliaError):
    """The orders file cannot be read, lacks a column, or holds bad rows."""

    status = 422
    code = "invalid_orders_file"


@dataclass
class ImportReport:
    loaded: int = 0
    skipped: list[str] = field(default_factory=list)


def read_orders(path: Path) -> tuple[pl.DataFrame, str]:
    """The file as text columns, and how its rows are numbered in messages."""
    if not path.exists():
        raise InvalidOrdersFile(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
            frame = frame.with_columns(pl.all().cast(pl.String))
            return frame.with_row_index("line", offset=1), "row"
        frame = pl.read_csv(path, infer_schema=False)
        return frame.with_row_index("line", offset=2), "line"  # line 1 is the header
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InvalidOrdersFile(f"{path}: cannot be read as {'Parquet' if path.suffix == '.parquet' else 'CSV'}: "
                                f"{str(exc).splitlines()[0]}") from None


def check_row(row: dict[str, str | None]) -> tuple[str | None, tuple | None]:
    """(reason, None) for a bad row, else (None, the typed row)."""
    customer, order = (row.get("customer_id") or "").strip(), (row.get("order_id") or "").strip()
    if not customer or len(customer) > MAX_ID:
        return f"customer_id must be 1 to {MAX_ID} characters, got {customer!r}", None
    if not order or len(order) > MAX_ID:
        return f"order_id must be 1 to {MAX_ID} characters, got {order!r}", None
    try:
        when = datetime.fromisoformat((row.get("ordered_at") or "").strip())
    except ValueError:
        return f"ordered_at {row.get('ordered_at')!r} is not an ISO date or date-time", None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    try:
        amount = float((row.get("amount") or "").strip())
    except ValueError:
        return f"amount {row.get('amount')!r} is not a number", None
    if not math.isfinite(amount) or amount < 0:
        return f"amount {amount} must be a finite amount of 0 or more", None
    items = (row.get("items") or "").strip()
    if items:
        try:
            parsed = json.loads(items)
        except json.JSONDecodeError:
            return "items is not valid JSON", None
        if not isinstance(parsed, list) or not all(isinstance(i, dict) and i.get("product_id") for i in parsed):
            return "items must be a JSON array of objects with a product_id", None
    return None, (order, customer, when, amount, items)


def import_orders(store: Store, path: Path, site_id: str, skip_bad_rows: bool = False) -> ImportReport:
    frame, unit = read_orders(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidOrdersFile(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED)} "
                                "(+ optional items)")
    report, good = ImportReport(), []
    seen: dict[str, int] = {}
    for row in frame.iter_rows(named=True):
        reason, typed = check_row(row)
        if typed is not None and typed[0] in seen:
            reason, typed = f"order_id {typed[0]!r} already at {unit} {seen[typed[0]]}", None
        if typed is None:
            report.skipped.append(f"{path.name}, {unit} {row['line']}: {reason}")
            continue
        seen[typed[0]] = row["line"]
        good.append(typed)
    if report.skipped and not skip_bad_rows:
        shown = "\n  ".join(report.skipped[:MAX_REPORTED])
        more = f"\n  … and {len(report.skipped) - MAX_REPORTED} more" if len(report.skipped) > MAX_REPORTED else ""
        raise InvalidOrdersFile(f"{len(report.skipped)} bad row(s), nothing loaded (use --skip-bad-rows to load the "
                                f"others):\n  {shown}{more}")
    if good:
        orders = pl.DataFrame(good, schema={"order_id": pl.String, "customer_id": pl.String,
                                            "ordered_at": pl.Datetime("ms", "UTC"), "amount": pl.Float64,
                                            "items": pl.String}, orient="row")
        store.insert_arrow("imported_orders", orders.with_columns(pl.lit(site_id).alias("site_id")).to_arrow())
    report.loaded = len(good)
    return report
