"""Hand-made events for profile fixtures, inserted straight into the real store."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.enrich import EVENT_COLUMNS, rows_to_arrow
from fidelia.store import Store

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
DEFAULTS: dict[str, Any] = {c: "" for c in EVENT_COLUMNS} | {
    "price": None, "quantity": None, "revenue": None, "satisfaction": None, "nps": None, "is_bot": 0,
}


def at(days_before: float = 0, minutes: float = 0) -> datetime:
    """A time `days_before` the fixtures' as-of date, plus `minutes`."""
    return AS_OF - timedelta(days=days_before) + timedelta(minutes=minutes)


class Events:
    """Collects rows for one site, then inserts them in one go."""

    def __init__(self, site_id: str) -> None:
        self.site_id = site_id
        self.rows: list[list[Any]] = []

    def add(self, visitor: str, when: datetime, event_type: str = "pageview", **fields: Any) -> Events:
        ms = int(when.timestamp() * 1000)
        row = DEFAULTS | {"event_id": os.urandom(16), "ts": ms, "received_at": ms, "site_id": self.site_id,
                          "visitor_id": visitor, "session_id": "s", "event_type": event_type} | fields
        if "items" in fields and not isinstance(fields["items"], str):
            row["items"] = json.dumps(fields["items"])
        self.rows.append([row[c] for c in EVENT_COLUMNS])
        return self

    def purchase(self, visitor: str, when: datetime, order_id: str, revenue: float,
                 items: list[tuple[str, str]] = (), **fields: Any) -> Events:
        lines = [{"product_id": p, "rubrique": r, "price": 1.0, "quantity": 1} for p, r in items]
        return self.add(visitor, when, "purchase", order_id=order_id, revenue=revenue, items=lines, **fields)

    def insert(self, store: Store) -> None:
        store.insert_arrow("events", rows_to_arrow(self.rows))
        self.rows = []
