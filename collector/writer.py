"""The batching writer: accepted events → spool segment → ClickHouse, off the request path.

`accept()` runs on the request path: one append to the active spool segment, whose frame's
values it also copies into one in-memory buffer; no store I/O. Under `fidelia serve` the HTTP
protocol uses `stage()` and `commit()` instead: the batches answered in one turn of the event loop
go to the spool as one frame, one `write` for all of them, and their answers wait for it
(collector/protocol.py). One background task flushes by
size or interval: it seals the active segment and inserts every sealed segment, oldest first,
in a worker thread. The insert is the frames' bytes as ClickHouse `MsgPack`
(collector/spool.py): building Arrow from Python rows held the GIL ~2 µs a row, a fifth of the
event loop's time at full load and its p99 stalls; ClickHouse parses the bytes in C++ without
it. A failed insert leaves its segment on disk and the task backs off (doubling up to
FIDELIA_RETRY_MAX_SECONDS) before replaying; segments left by an earlier run are replayed at
start. Shutdown seals and flushes once more; what still cannot be inserted waits on disk for
the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from collector.enrich import EVENT_COLUMNS, Row
from collector.metrics import CollectorMetrics
from collector.spool import CorruptSegment, Segment, Spool, encode_frame, frame_values, read_segment
from fidelia.errors import SpoolFull, StoreError
from fidelia.store import Store

log = logging.getLogger(__name__)

EVENTS_TABLE = "events"
FIRST_BACKOFF = 0.5


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
        # The active segment's frames past their headers, back to back: the insert's MsgPack bytes
        # as they are, no Python pass over thousands of frames holding the GIL while the loop
        # waits. One bytearray, not a list of frames: a list of memoryviews put two objects a
        # request in the garbage collector's oldest generation, whose full passes grew with them.
        self.values = bytearray()
        self.buffered_rows = 0
        self.staged: list[list[Row]] = []  # the batches waiting for `commit()`, in order
        self._sealed: dict[str, tuple[bytearray, int]] = {}  # segment name → values, rows
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
            frame = self.spool.append(self.active, rows)
        except OSError as exc:
            self.metrics.spool_bytes = self.spool.bytes
            raise SpoolFull(f"the event spool cannot take more events ({exc.strerror}); retry later") from None
        self.values += frame_values(frame)
        self.buffered_rows += len(rows)
        self.metrics.events_accepted += len(rows)
        self.metrics.buffered = self.buffered_rows
        self.metrics.spool_bytes = self.spool.bytes
        if self.buffered_rows >= self.flush_rows:
            self._wake.set()

    def stage(self, rows: list[Row]) -> None:
        """Hold the rows for the next `commit()`. Refused now if the spool is already at its limit,
        so a full spool answers as `accept` does."""
        if self.spool.full():
            raise SpoolFull("the event spool cannot take more events (spool limit reached); retry later")
        self.staged.append(rows)

    def commit(self) -> list[SpoolFull | None]:
        """Append every staged batch to the spool, as one frame; what the spool did with each batch,
        in order (None: it is on disk). Refused whole, they are tried batch by batch, so those
        that still fit under the spool's limit get in as they would have one at a time."""
        batches, self.staged = self.staged, []
        if not batches:
            return []
        try:
            self.accept([row for rows in batches for row in rows])
            return [None] * len(batches)
        except SpoolFull as exc:
            if len(batches) == 1:
                return [exc]
        outcomes: list[SpoolFull | None] = []
        for rows in batches:
            try:
                self.accept(rows)
                outcomes.append(None)
            except SpoolFull as exc:
                outcomes.append(exc)
        return outcomes

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
            self._sealed[self.active.name] = (self.values, self.active.rows)
        else:
            self.active.path.unlink(missing_ok=True)
        self.active = None
        self.values = bytearray()
        self.buffered_rows = 0
        self.metrics.buffered = 0

    def _insert_segments(self, paths: list[Path]) -> bool:
        """Worker thread: insert each segment with its name as the dedupe token, oldest first."""
        for index, path in enumerate(paths):
            name = path.stem
            sealed = self._sealed.pop(name, None)
            if sealed is None:  # left by an earlier run, or by a failed insert: read it back
                try:
                    sealed = _frames_on_disk(path)
                except CorruptSegment as exc:
                    self.spool.quarantine(path, str(exc))
                    self.metrics.segments_quarantined += 1
                    continue
            values, rows = sealed
            started = time.perf_counter()
            try:
                if rows:
                    self.store.insert_msgpack(EVENTS_TABLE, EVENT_COLUMNS, values, dedupe_token=name, background=True)
            except StoreError as exc:
                self._mark_spooled(name, rows)
                # The segments behind it wait too: count them now, not when their turn comes.
                for later in paths[index + 1:]:
                    if later.stem in self._sealed:
                        self._mark_spooled(later.stem, self._sealed[later.stem][1])
                log.warning("insert of %d events failed, kept in spool %s: %s", rows, path.name, exc.message)
                return False
            self.metrics.observe_flush(time.perf_counter() - started, rows)
            if name in self._failed:
                self._failed.discard(name)
                self.metrics.events_replayed += rows
            self.spool.remove(path)
            self.metrics.spool_bytes = self.spool.bytes
            self.metrics.spool_segments = max(self.metrics.spool_segments - 1, 0)
        return True

    def _mark_spooled(self, name: str, rows: int) -> None:
        if name not in self._failed:
            self._failed.add(name)
            self.metrics.events_spooled += rows


def _frames_on_disk(path: Path) -> tuple[bytearray, int]:
    """A segment read back from disk as one frame of rows of the events table's width."""
    rows: list[Row] = read_segment(path)
    if any(len(row) != len(EVENT_COLUMNS) for row in rows):
        raise CorruptSegment(f"{path.name}: rows are not the {len(EVENT_COLUMNS)} columns of {EVENTS_TABLE}")
    return (bytearray(frame_values(encode_frame(rows))) if rows else bytearray()), len(rows)
