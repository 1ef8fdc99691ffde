"""Spool limit and a full disk: the collector sheds load with 503 and a metric, writes no half
frame, keeps serving, and accepts again once the store drains the spool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from collector.spool import read_segment
from tests.collector.test_spool import pageviews, store_outage, unique_events
from tests.conftest import LiveServer, count_events, make_settings


def test_spool_limit_gives_503_then_accepts_again_once_drained(store, site_id: str, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, [site_id], spool_max_bytes=4000), store).start()
    accepted = 0
    try:
        with server.client() as client, store_outage(store):
            statuses = []
            for _ in range(40):
                response = client.post("/collect", json=pageviews(site_id, 5))
                statuses.append(response.status_code)
                accepted += 5 if response.status_code == 204 else 0
                if response.status_code == 503:
                    full = response
            assert server.flush() is False
            assert 204 in statuses and 503 in statuses
            assert statuses.index(503) == statuses.count(204)  # once full, full until drained
            assert full.headers["retry-after"] == "30" and full.json()["error"]["code"] == "spool_full"
            metrics = client.get("/metrics").text
            assert f'fidelia_requests_rejected_total{{reason="spool_full"}} {statuses.count(503)}' in metrics
            spool_bytes = int(next(line.split()[1] for line in metrics.splitlines()
                                   if line.startswith("fidelia_spool_bytes ")))
            assert 0 < spool_bytes <= 4000
            assert sum(p.stat().st_size for p in server.services.settings.spool_dir.glob("*.seg")) == spool_bytes
            assert client.get("/healthz").status_code == 200
        assert server.flush() is True
        with server.client() as client:
            assert client.post("/collect", json=pageviews(site_id, 5)).status_code == 204
        accepted += 5
        assert server.flush()
        assert count_events(store, site_id) == unique_events(store, site_id) == accepted
        assert server.services.writer.spool.bytes == 0 and server.services.metrics.spool_bytes == 0
    finally:
        server.stop()


FILL_A_SMALL_DISK = """
import resource, signal, sys
from pathlib import Path
from collector.spool import Spool
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk answers EFBIG/ENOSPC instead of killing
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, hard))
spool = Spool(Path(sys.argv[1]))
segment = spool.open_segment()
ok, i = [], 0
while True:
    try:
        spool.append(segment, [[i, "x" * 100]])
        ok.append(i)
    except OSError:
        break
    i += 1
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again: appends go on after the failed one
for i in range(i + 1, i + 6):
    spool.append(segment, [[i, "x" * 100]])
    ok.append(i)
print(",".join(map(str, ok)), segment.path, spool.bytes)
"""


def test_a_full_disk_leaves_no_half_written_frame(tmp_path: Path) -> None:
    # A real short write: the file size limit of a child process stands in for a full disk.
    out = subprocess.run([sys.executable, "-c", FILL_A_SMALL_DISK, str(tmp_path)], capture_output=True, text=True,
                         timeout=60, check=True)
    acknowledged, path, accounted = out.stdout.split()
    ids = [int(n) for n in acknowledged.split(",")]
    failed = ids[-6] + 1
    assert ids == [*range(failed), *range(failed + 1, failed + 6)]
    # the refused frame left nothing behind: the frames written after it read back whole
    assert [row[0] for row in read_segment(Path(path))] == ids
    assert Path(path).stat().st_size == int(accounted)
