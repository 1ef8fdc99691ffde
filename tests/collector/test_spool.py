"""Store outages, restarts and damaged spool files: acknowledged events are never lost nor doubled.

The outage is real: the `events` table is detached from the embedded ClickHouse, so every
insert fails the way it would on a dead server, then attached again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from collector.spool import FRAME_HEADER, Segment, Spool, decode_frame, encode_frame, frame_values, read_segment
from fidelia.store import Store
from tests.conftest import LiveServer, count_events, make_settings


def pageviews(site_id: str, n: int) -> dict:
    return {"site_id": site_id, "events": [{"type": "pageview", "url": f"https://shop.example/r/a/{i}"}
                                           for i in range(n)]}


@contextmanager
def store_outage(store: Store) -> Iterator[None]:
    store.client.command("DETACH TABLE events")
    try:
        yield
    finally:
        store.client.command("ATTACH TABLE events")


def unique_events(store: Store, site_id: str) -> int:
    return int(store.client.query("SELECT uniqExact(event_id) FROM events WHERE site_id = {s:String}",
                                  parameters={"s": site_id}).result_rows[0][0])


def test_outage_keeps_answering_then_replays_exactly_once(live: LiveServer, site_id: str, store) -> None:
    spool_dir = live.services.settings.spool_dir
    with live.client() as client:
        for _ in range(3):
            assert client.post("/collect", json=pageviews(site_id, 2)).status_code == 204
        assert live.flush()
        with store_outage(store):
            for _ in range(10):
                assert client.post("/collect", json=pageviews(site_id, 3)).status_code == 204
            assert live.flush() is False
            assert len(list(spool_dir.glob("*.seg"))) >= 1
            assert live.services.metrics.events_spooled == 30
            assert client.get("/healthz").json()["spool_segments"] >= 1
        assert live.flush() is True
    assert count_events(store, site_id) == 36
    assert unique_events(store, site_id) == 36
    assert list(spool_dir.glob("*.seg")) == []
    assert live.services.metrics.events_replayed == 30


def test_replaying_a_segment_that_was_already_stored_adds_nothing(live: LiveServer, site_id: str, store) -> None:
    # The insert landed but the answer was lost: the segment is still on disk and is replayed.
    spool_dir = live.services.settings.spool_dir
    with live.client() as client:
        client.post("/collect", json=pageviews(site_id, 4))
    [segment] = list(spool_dir.glob("*.seg"))
    kept = spool_dir / "copy.bin"
    shutil.copy(segment, kept)
    assert live.flush()
    assert count_events(store, site_id) == 4
    kept.rename(segment)
    assert live.flush()
    assert count_events(store, site_id) == 4
    assert not segment.exists()


def test_segments_left_by_a_stopped_server_are_replayed_at_next_start(store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id])
    first = LiveServer(settings, store).start()
    with store_outage(store):
        with first.client() as client:
            for _ in range(5):
                assert client.post("/collect", json=pageviews(site_id, 2)).status_code == 204
        first.stop()  # shutdown flush fails: the segments stay on disk
    assert len(list(settings.spool_dir.glob("*.seg"))) >= 1
    assert count_events(store, site_id) == 0
    second = LiveServer(settings, store).start()
    try:
        assert second.flush()
        assert count_events(store, site_id) == 10
        assert unique_events(store, site_id) == 10
    finally:
        second.stop()


def test_corrupt_segment_is_quarantined_and_the_rest_replayed(live: LiveServer, site_id: str, store) -> None:
    spool_dir = live.services.settings.spool_dir
    (spool_dir / "00000000000000000001-deadbeef.seg").write_bytes(FRAME_HEADER.pack(5) + b"\xc1\xc1\xc1\xc1\xc1")
    with live.client() as client:
        client.post("/collect", json=pageviews(site_id, 3))
    assert live.flush()
    assert count_events(store, site_id) == 3
    assert [p.name for p in (spool_dir / "quarantine").iterdir()] == ["00000000000000000001-deadbeef.seg"]
    assert live.services.metrics.segments_quarantined == 1


def test_torn_last_frame_is_dropped_and_earlier_frames_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    segment = spool.open_segment()
    segment.append([(1, "a"), (2, "b")])
    segment.append([(3, "c")])
    segment.close()
    data = segment.path.read_bytes()
    segment.path.write_bytes(data + FRAME_HEADER.pack(100) + b"\x93")  # a crash in the middle of a write
    assert read_segment(segment.path) == [(1, "a"), (2, "b"), (3, "c")]  # rows are tuples (collector.enrich.Row)


def test_segments_sort_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    names = []
    for _ in range(3):
        segment: Segment = spool.open_segment()
        segment.append([[0]])
        segment.close()
        names.append(segment.path)
    assert spool.sealed(exclude=set()) == names


def test_a_flush_of_many_batches_stores_every_event_once(store, site_id: str, tmp_path: Path) -> None:
    # No interval flush: the one flush below joins every batch's frame into one MsgPack insert.
    server = LiveServer(make_settings(tmp_path, [site_id], flush_interval=3600.0, flush_rows=10**9), store).start()
    batches = 42
    try:
        with server.client() as client:
            for _ in range(batches):
                assert client.post("/collect", json=pageviews(site_id, 50)).status_code == 204
        writer = server.services.writer
        assert writer.active is not None
        on_disk = read_segment(writer.active.path)
        assert len(on_disk) == writer.buffered_rows == batches * 50
        # The buffer the insert will send is every batch's frame values back to back: the rows on disk.
        assert bytes(writer.values) == bytes(frame_values(encode_frame(on_disk)))
        assert server.flush()
    finally:
        server.stop()
    assert count_events(store, site_id) == batches * 50
    assert unique_events(store, site_id) == batches * 50


def test_a_frame_is_the_width_then_flat_values_and_reads_back_as_rows(tmp_path: Path) -> None:
    rows = [(b"\x01" * 16, 5, "a", None), (b"\x02" * 16, 6, "b", 1.5)]
    frame = encode_frame(rows)
    assert msgspec.msgpack.decode(frame) == [4, b"\x01" * 16, 5, "a", None, b"\x02" * 16, 6, "b", 1.5]
    assert bytes(frame_values(frame)) == b"".join(msgspec.msgpack.encode(v) for row in rows for v in row)
    assert decode_frame(frame) == rows
    big = [(i, "x") for i in range(40_000)]  # an array32 header: the values still start after it
    assert bytes(frame_values(encode_frame(big)))[:2] == msgspec.msgpack.encode(0) + msgspec.msgpack.encode("x")[:1]
    assert decode_frame(msgspec.msgpack.encode(rows)) == rows  # the earlier layout, an array of rows
    with pytest.raises(ValueError):
        decode_frame(msgspec.msgpack.encode([3, 1, 2]))  # two values are not rows of three


def test_an_earlier_layout_segment_is_replayed_and_a_wrong_width_one_quarantined(
    store, site_id: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, [site_id])
    settings.spool_dir.mkdir(parents=True)
    now = 1_763_791_200_000
    rows = [(os.urandom(16), now + i, now, site_id, "v1", "s1", "", "pageview", "https://shop.example/r/a",
             "/r/a", "", "", "", "", "a", "", None, None, "", None, "", "", None, None, "Firefox", "Linux",
             "desktop", 0, "implied", "") for i in range(3)]
    old = msgspec.msgpack.encode(rows)  # how segments were written before the flat layout
    (settings.spool_dir / "00000000000000000001-0000aaaa.seg").write_bytes(FRAME_HEADER.pack(len(old)) + old)
    narrow = encode_frame([(1, "x")])
    (settings.spool_dir / "00000000000000000002-0000bbbb.seg").write_bytes(FRAME_HEADER.pack(len(narrow)) + narrow)
    server = LiveServer(settings, store).start()
    try:
        assert server.flush()
    finally:
        server.stop()
    assert count_events(store, site_id) == 3
    assert [p.name for p in (settings.spool_dir / "quarantine").iterdir()] == ["00000000000000000002-0000bbbb.seg"]
