"""The batching writer: accepted events → spool segment → ClickHouse, off the request path.

`accept()` runs on the request path: one append to the active spool segment and a list
extend, no store I/O. One background task flushes by size or interval: it seals the active
segment and inserts every sealed segment, oldest first, in a worker thread. A failed insert
leaves its segment on disk and the task backs off (doubling up to FIDELIA_RETRY_MAX_SECONDS)
before replaying; segments left by an earlier run are replayed at start. Shutdown seals and
flushes once more; what still cannot be inserted waits on disk for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import pyarrow as pa

from collector.enrich import Row, rows_to_arrow
from collector.metrics import CollectorMetrics
from collector.spool import CorruptSegment, Segment, Spool, read_segment
from fidelia.errors import SpoolFull, StoreError
from fidelia.store import Store

log = logging.getLogger(__name__)

EVENTS_TABLE = "events"
FIRST_BACKOFF = 0.5
# Rows turned into Arrow per step. The conversion holds the GIL (~1 µs a row): 20,000 rows in one
# go kept the event loop from answering for 20-30 ms; between steps the loop gets the GIL back.
ARROW_STEP_ROWS = 2000


class EventWriter:
    def __init__(
        self,
        store: Store,
        spool: Spool,
        metrics: CollectorMetrics,
        flush_rows: int,
        flush_interval: float,
        retry_max_seconds: float,
    ) -> None:
        self.store = store
        self.spool = spool
        self.metrics = metrics
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.retry_max_seconds = retry_max_seconds
        self.active: Segment | None = None
        self.buffer: list[Row] = []
        self._sealed_rows: dict[str, list[Row]] = {}
        self._failed: set[str] = set()
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # --- request path ---------------------------------------------------------------------

    def accept(self, rows: list[Row]) -> None:
        """Make the rows durable in the spool and queue them for the next insert."""
        try:
            if self.active is None:
                self.active = self.spool.open_segment()
            self.spool.append(self.active, rows)
        except OSError as exc:
            self.metrics.spool_bytes = self.spool.bytes
            raise SpoolFull(f"the event spool cannot take more events ({exc.strerror}); retry later") from None
        self.buffer.extend(rows)
        self.metrics.events_accepted += len(rows)
        self.metrics.buffered = len(self.buffer)
        self.metrics.spool_bytes = self.spool.bytes
        if len(self.buffer) >= self.flush_rows:
            self._wake.set()

    # --- background -----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fidelia-event-writer")

    async def stop(self) -> None:
        """Stop the background task, then seal and flush what is left (SIGTERM, shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if not await self.flush():
            left = len(self.spool.sealed(set()))
            log.warning("store unavailable at shutdown: %d spool segment(s) kept for the next start", left)

    async def _run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff or self.flush_interval)
            self._wake.clear()
            if self._stopping:
                break
            try:
                ok = await self.flush()
            except Exception:  # the writer must outlive any surprise; the rows stay on disk
                log.exception("event writer: flush failed unexpectedly")
                ok = False
            backoff = 0.0 if ok else min(max(backoff * 2, FIRST_BACKOFF), self.retry_max_seconds)

    async def flush(self) -> bool:
        """Seal the active segment and insert every sealed one; False if the store refused."""
        async with self._flush_lock:
            self._seal()
            paths = self.spool.sealed(exclude=set())
            self.metrics.spool_segments = len(paths)
            if not paths:
                return True
            return await asyncio.to_thread(self._insert_segments, paths)

    def _seal(self) -> None:
        if self.active is None:
            return
        self.active.close()
        if self.active.rows:
            self._sealed_rows[self.active.name] = self.buffer
        else:
            self.active.path.unlink(missing_ok=True)
        self.active = None
        self.buffer = []
        self.metrics.buffered = 0

    def _insert_segments(self, paths: list[Path]) -> bool:
        """Worker thread: insert each segment with its name as the dedupe token, oldest first."""
        for index, path in enumerate(paths):
            name = path.stem
            rows = self._sealed_rows.pop(name, None)
            if rows is None:
                try:
                    rows = read_segment(path)
                except CorruptSegment as exc:
                    self.spool.quarantine(path, str(exc))
                    self.metrics.segments_quarantined += 1
                    continue
            started = time.perf_counter()
            try:
                if rows:
                    self.store.insert_arrow(EVENTS_TABLE, _to_arrow_in_steps(rows), dedupe_token=name, background=True)
            except StoreError as exc:
                self._mark_spooled(name, len(rows))
                # The segments behind it wait too: count them now, not when their turn comes.
                for later in paths[index + 1:]:
                    if later.stem in self._sealed_rows:
                        self._mark_spooled(later.stem, len(self._sealed_rows[later.stem]))
                log.warning("insert of %d events failed, kept in spool %s: %s", len(rows), path.name, exc.message)
                return False
            self.metrics.observe_flush(time.perf_counter() - started, len(rows))
            if name in self._failed:
                self._failed.discard(name)
                self.metrics.events_replayed += len(rows)
            self.spool.remove(path)
            self.metrics.spool_bytes = self.spool.bytes
            self.metrics.spool_segments = max(self.metrics.spool_segments - 1, 0)
        return True

    def _mark_spooled(self, name: str, rows: int) -> None:
        if name not in self._failed:
            self._failed.add(name)
            self.metrics.events_spooled += rows


def _to_arrow_in_steps(rows: list[Row]) -> pa.Table:
    """rows_to_arrow in ARROW_STEP_ROWS slices (worker thread), letting go of the GIL after each."""
    parts = []
    for start in range(0, len(rows), ARROW_STEP_ROWS):
        parts.append(rows_to_arrow(rows[start : start + ARROW_STEP_ROWS]))
        time.sleep(0)  # releases the GIL: a waiting event loop takes it here
    return pa.concat_tables(parts)
