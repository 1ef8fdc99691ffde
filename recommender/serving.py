"""The serving snapshot as the API sees it: read-only, reopened when the job swaps in a new one.

The profiles job renames a complete DuckDB file (the base or its delta, profiles/snapshot.py)
over the live one; this reader notices (an inode changes) at most once a second and opens the
new files, so a half-written snapshot is never read, a new one is picked up without a restart,
and ClickHouse can be down.
A DuckDB point lookup costs ~0.3 ms, so answers are kept in memory (LRU) until the next swap.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from fidelia.store import load_sql
from profiles.snapshot import FileIdentity, open_snapshot, snapshot_identity
from recommender.rank import Product, SiteModel, VisitorView

CHECK_EVERY_SECONDS = 1.0
CACHE_SIZE = 100_000


class LRU:
    """A small least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)

    def clear(self) -> None:
        self.data.clear()


class SnapshotReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[FileIdentity, FileIdentity] | None = None
        self._generation: str | None = None
        self._with_delta = False
        self._checked = 0.0
        self.version = 0
        self.profiles = LRU(CACHE_SIZE)
        self.responses = LRU(CACHE_SIZE)
        self._models: dict[str, SiteModel] = {}

    def connection(self) -> duckdb.DuckDBPyConnection | None:
        """The open snapshot, reopened if a run published a new base or delta; None before the first."""
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_SECONDS:
            return self._con
        self._checked = now
        identity = snapshot_identity(self.path, self._generation)
        if identity[0] is not None and identity != self._identity:
            with self._lock:
                # Close first: DuckDB reuses an open database of the same path within a process,
                # which would hand back the old, renamed-over file.
                if self._con is not None:
                    self._con.close()
                    self._con = None
                opened = open_snapshot(self.path)
                if opened is not None:
                    self._con, self._generation, self._identity = opened.con, opened.generation, opened.identity
                    self._with_delta = opened.identity[1] is not None
                self.version += 1
                self.profiles.clear()
                self.responses.clear()
                self._models = {}
        return self._con

    def refresh(self) -> None:
        """Look for a new snapshot at the next request, whatever the time (after an erasure)."""
        self._checked = 0.0

    def _rows(self, name: str, params: list[Any]) -> list[dict[str, Any]]:
        con = self.connection()
        if con is None:
            return []
        with self._lock:
            cursor = con.execute(load_sql(name), params)
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def visitor(self, site_id: str, visitor_id: str) -> dict[str, Any] | None:
        """The visitor's profile row, or None when the snapshot does not know them."""
        self.connection()
        key = (site_id, visitor_id)
        cached = self.profiles.get(key)
        if cached is None:
            rows = self._rows("snapshot/visitor_in_delta", [site_id, visitor_id]) if self._with_delta else []
            rows = rows or self._rows("snapshot/visitor", [site_id, visitor_id])
            cached = rows[0] if rows else {}
            self.profiles.put(key, cached)
        return cached or None

    def model(self, site_id: str) -> SiteModel:
        self.connection()
        model = self._models.get(site_id)
        if model is None:
            products = {
                row["product_id"]: Product(row["product_id"], row["name"] or row["product_id"], row["rubrique"],
                                           row["price"], row["url"], bool(row["is_new"]), row["popularity"])
                for row in self._rows("snapshot/reco_products", [site_id]) if row["in_stock"]
            }
            neighbours: dict[str, list[tuple[str, float]]] = {}
            for row in self._rows("snapshot/reco_neighbours", [site_id]):
                neighbours.setdefault(row["product_id"], []).append((row["neighbour"], row["score"]))
            model = self._models[site_id] = SiteModel(site_id, products, neighbours)
        return model


def visitor_view(visitor_id: str, row: dict[str, Any] | None) -> VisitorView:
    """What ranking needs of a profile row (an unknown visitor gets the cold-start view)."""
    if not row:
        return VisitorView(visitor_id)
    interests = tuple((i["rubrique"], float(i["score"])) for i in json.loads(row["interests"] or "[]"))
    purchased = tuple(
        (p["product_id"], datetime.fromisoformat(p["at"]).replace(tzinfo=UTC))
        for p in json.loads(row["purchased_products"] or "[]")
    )
    return VisitorView(visitor_id, True, row["lifecycle_stage"], row["rfm_segment"] or "", bool(row["lost"]),
                       interests, tuple(row["recent_products"] or ()), purchased)
