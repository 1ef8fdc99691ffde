"""The on-disk spool: every accepted event is on disk before the collector answers.

The spool is a folder of segment files. The writer appends each accepted batch to the
active segment (one `write` of a length-prefixed msgpack frame, before the 204), so a
crash, a SIGTERM or a store outage loses nothing that was acknowledged. When the writer
flushes, it seals the segment and inserts its rows into ClickHouse with the segment name as
the deduplication token, then deletes it; a segment whose insert failed simply stays and
is replayed later, still with the same token, so an insert that did land but whose answer
was lost is not stored twice.

A frame is the msgpack array `[width, row 1's values…, row 2's values…]`: past its array header
and the width, it is exactly what ClickHouse's `MsgPack` input format reads (rows as flat runs of
values), so the writer inserts the frames' bytes as they are and never rebuilds the rows in
Python (`frame_values`). Frames of the earlier layout, an array of rows, still read back.

Writes go to the OS page cache without fsync: a killed process loses nothing, a power cut
can lose what the kernel had not yet written (see docs/collector.md).
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger(__name__)

SUFFIX = ".seg"
FRAME_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
MAX_WIDTH = 127  # the width is one msgpack positive fixint, so a frame's values start at a known byte
ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder()
Rows = Sequence[Sequence[Any]]


class CorruptSegment(Exception):
    """A spool file that cannot be read back."""


class SpoolLimitReached(OSError):
    """The spool holds FIDELIA_SPOOL_MAX_BYTES already: the frame was not written."""


class Segment:
    """One spool file open for appending."""

    def __init__(self, folder: Path) -> None:
        self.name = f"{time.time_ns():020d}-{os.urandom(4).hex()}"
        self.path = folder / (self.name + SUFFIX)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.rows = 0
        self.size = 0

    def append(self, rows: Rows) -> None:
        self.write(encode_frame(rows), len(rows))

    def write(self, frame: bytes, n_rows: int) -> None:
        """Append one frame whole or not at all: a short or failed write (disk full) is cut off again,
        so the frames after it stay readable."""
        data = FRAME_HEADER.pack(len(frame)) + frame
        try:
            written = os.write(self.fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)
        self.rows += n_rows

    def close(self) -> None:
        os.close(self.fd)


def encode_frame(rows: Rows) -> bytes:
    """One batch's frame: `[width, values of every row in turn]` (rows of one width, at most MAX_WIDTH)."""
    width = len(rows[0]) if rows else 0
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"a spool frame holds rows of 1 to {MAX_WIDTH} values, not {width}")
    return ENCODER.encode([width, *chain.from_iterable(rows)])


def frame_values(frame: bytes) -> memoryview:
    """The frame's row values alone, ClickHouse `MsgPack` input: past the array header and the width."""
    first = frame[0]
    header = 1 if 0x90 <= first <= 0x9F else 3 if first == 0xDC else 5
    return memoryview(frame)[header + 1:]


def decode_frame(frame: bytes) -> list[tuple[Any, ...]]:
    """The rows of one frame, as tuples (collector.enrich.Row)."""
    values = DECODER.decode(frame)
    if not isinstance(values, list) or not values:
        raise ValueError("a frame is a non-empty msgpack array")
    if isinstance(values[0], list):  # the earlier layout: an array of rows
        return [tuple(row) for row in values]
    width, flat = values[0], values[1:]
    if not isinstance(width, int) or not 0 < width <= MAX_WIDTH or len(flat) % width:
        raise ValueError(f"{len(flat)} values do not make rows of {width}")
    return [tuple(flat[i : i + width]) for i in range(0, len(flat), width)]


def read_segment(path: Path) -> list[tuple[Any, ...]]:
    """All rows of a sealed segment. A torn last frame (a crash mid-write, never acknowledged) is
    dropped with a log line; anything else unreadable raises CorruptSegment."""
    data = path.read_bytes()
    rows: list[tuple[Any, ...]] = []
    pos = 0
    while pos < len(data):
        if pos + FRAME_HEADER.size > len(data):
            log.warning("spool %s: torn frame header at byte %d dropped", path.name, pos)
            break
        (size,) = FRAME_HEADER.unpack_from(data, pos)
        if size > MAX_FRAME:
            raise CorruptSegment(f"{path.name}: frame of {size} bytes at byte {pos}")
        start = pos + FRAME_HEADER.size
        if start + size > len(data):
            log.warning("spool %s: torn last frame at byte %d dropped", path.name, pos)
            break
        try:
            rows.extend(decode_frame(data[start : start + size]))
        except (msgspec.DecodeError, ValueError) as exc:
            raise CorruptSegment(f"{path.name}: unreadable frame at byte {pos}: {exc}") from None
        pos = start + size
    return rows


class Spool:
    """The spool folder: the active segment, sealed segments waiting, quarantined files."""

    def __init__(self, folder: Path, max_bytes: int = 0) -> None:
        self.folder = folder
        self.max_bytes = max_bytes  # 0: no limit but the disk's
        self.quarantine_dir = folder / "quarantine"
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        self.bytes = sum(p.stat().st_size for p in folder.glob("*" + SUFFIX))
        self._lock = threading.Lock()  # the request path adds, the writer's thread removes

    def open_segment(self) -> Segment:
        return Segment(self.folder)

    def append(self, segment: Segment, rows: Rows) -> bytes:
        """Append a batch to the active segment unless the spool would grow past its limit; the frame
        written, for the writer to insert from memory."""
        frame = encode_frame(rows)
        size = len(frame) + FRAME_HEADER.size
        if self.max_bytes and self.bytes + size > self.max_bytes:
            raise SpoolLimitReached(errno.ENOSPC, f"spool limit of {self.max_bytes} bytes reached")
        segment.write(frame, len(rows))
        with self._lock:
            self.bytes += size
        return frame

    def full(self) -> bool:
        return bool(self.max_bytes) and self.bytes >= self.max_bytes

    def remove(self, path: Path) -> None:
        """Delete a segment once its rows are in the store."""
        size = path.stat().st_size
        path.unlink()
        with self._lock:
            self.bytes = max(self.bytes - size, 0)

    def sealed(self, exclude: set[str]) -> list[Path]:
        """Segments waiting for an insert, oldest first."""
        return sorted(p for p in self.folder.glob("*" + SUFFIX) if p.stem not in exclude)

    def quarantine(self, path: Path, reason: str) -> None:
        log.error("spool file %s is unreadable (%s): moved to %s", path.name, reason, self.quarantine_dir)
        size = path.stat().st_size
        path.rename(self.quarantine_dir / path.name)
        with self._lock:
            self.bytes = max(self.bytes - size, 0)
