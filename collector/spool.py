"""The on-disk spool: every accepted event is on disk before the collector answers.

The spool is a folder of segment files. The writer appends each accepted batch to the
active segment (one `write` of a length-prefixed msgpack frame, before the 204), so a
crash, a SIGTERM or a store outage loses nothing that was acknowledged. When the writer
flushes, it seals the segment and inserts its rows into ClickHouse with the segment name as
the deduplication token, then deletes it; a segment whose insert failed simply stays and
is replayed later, still with the same token, so an insert that did land but whose answer
was lost is not stored twice.

Writes go to the OS page cache without fsync: a killed process loses nothing, a power cut
can lose what the kernel had not yet written (see docs/collector.md).
"""

from __future__ import annotations

import logging
import os
import struct
import time
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger(__name__)

SUFFIX = ".seg"
FRAME_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(list[tuple[Any, ...]])


class CorruptSegment(Exception):
    """A spool file that cannot be read back."""


class Segment:
    """One spool file open for appending."""

    def __init__(self, folder: Path) -> None:
        self.name = f"{time.time_ns():020d}-{os.urandom(4).hex()}"
        self.path = folder / (self.name + SUFFIX)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.rows = 0

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        frame = ENCODER.encode(rows)
        os.write(self.fd, FRAME_HEADER.pack(len(frame)) + frame)
        self.rows += len(rows)

    def close(self) -> None:
        os.close(self.fd)


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
            rows.extend(DECODER.decode(data[start : start + size]))
        except msgspec.DecodeError as exc:
            raise CorruptSegment(f"{path.name}: unreadable frame at byte {pos}: {exc}") from None
        pos = start + size
    return rows


class Spool:
    """The spool folder: the active segment, sealed segments waiting, quarantined files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.quarantine_dir = folder / "quarantine"
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)

    def open_segment(self) -> Segment:
        return Segment(self.folder)

    def sealed(self, exclude: set[str]) -> list[Path]:
        """Segments waiting for an insert, oldest first."""
        return sorted(p for p in self.folder.glob("*" + SUFFIX) if p.stem not in exclude)

    def quarantine(self, path: Path, reason: str) -> None:
        log.error("spool file %s is unreadable (%s): moved to %s", path.name, reason, self.quarantine_dir)
        path.rename(self.quarantine_dir / path.name)
