"""Store outages, restarts and damaged spool files: acknowledged events are never lost nor doubled.

The outage is real: the `events` table is detached from the embedded ClickHouse, so every
insert fails the way it would on a dead server, then attached again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector.spool import FRAME_HEADER, Segment, Spool, read_segment
from collector.writer import ARROW_STEP_ROWS
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


def test_flush_larger_than_one_arrow_step_stores_every_event_once(store, site_id: str, tmp_path: Path) -> None:
    # No interval flush: the one flush below converts the rows in several ARROW_STEP_ROWS steps.
    server = LiveServer(make_settings(tmp_path, [site_id], flush_interval=3600.0, flush_rows=10**9), store).start()
    batches = ARROW_STEP_ROWS // 50 + 2
    try:
        with server.client() as client:
            for _ in range(batches):
                assert client.post("/collect", json=pageviews(site_id, 50)).status_code == 204
        assert server.services.writer.buffer and len(server.services.writer.buffer) == batches * 50
        assert server.flush()
    finally:
        server.stop()
    assert count_events(store, site_id) == batches * 50
    assert unique_events(store, site_id) == batches * 50
