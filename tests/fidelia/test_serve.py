"""`fidelia serve` as a real process: SIGTERM flushes every buffered event; the CLI explains
a held store and a bad setting instead of failing with a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIREFOX, free_port, read_store_in_subprocess

FIDELIA = [sys.executable, "-m", "fidelia.cli"]
pytestmark = pytest.mark.slow


def env_for(data: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "FIDELIA_DATA_DIR": str(data), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{data}/clickhouse",
            **extra}


def start_server(data: Path, **settings: str) -> tuple[subprocess.Popen, str]:
    """`fidelia serve` on a free port, once its /healthz answers; fails the test with its output if it does not."""
    port = free_port()
    proc = subprocess.Popen([*FIDELIA, "serve", "--port", str(port)], env=env_for(data, **settings), cwd=data,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            output = proc.communicate()[0]
            pytest.fail("fidelia serve did not start: " + output)
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    # A flush interval far longer than the test: every event is still buffered at SIGTERM.
    proc, base = start_server(tmp_path, FIDELIA_FLUSH_INTERVAL="600", FIDELIA_FLUSH_ROWS="100000")
    yield proc, base, tmp_path
    stop_server(proc)


def test_sigterm_flushes_buffered_events(served) -> None:
    proc, base, data = served
    with httpx.Client(base_url=base, headers={"User-Agent": FIREFOX}) as client:
        for i in range(25):
            response = client.post("/collect", json={"site_id": "demo", "events": [
                {"type": "pageview", "url": f"https://shop.example/shop/r/chaussures/{i}"},
                {"type": "product_view", "url": f"https://shop.example/p/{i}", "product_id": f"p{i}"}]})
            assert response.status_code == 204
        assert client.get("/healthz").json()["buffered_events"] == 50
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says SIGTERM.
    assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (proc.stdout.read() if proc.stdout else "")
    rows = read_store_in_subprocess(data / "clickhouse",
                                    "SELECT count(), uniqExact(event_id), uniqExact(visitor_id) FROM events")
    assert rows == [[50, 50, 1]]
    assert list((data / "spool").glob("*.seg")) == []


BATCH = json.dumps({"site_id": "demo", "events": [
    {"type": "pageview", "url": "https://shop.example/shop/r/chaussures/escarpin", "rubrique": "chaussures"},
    {"type": "product_view", "url": "https://shop.example/p/escarpin", "product_id": "p-1", "price": 79.9}]}).encode()
REQUEST = (b"POST /collect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nUser-Agent: "
           + FIREFOX.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(BATCH) + BATCH)


async def send_batches(port: int, connections: int, seconds: float) -> Counter[int]:
    """Keep-alive clients that send a batch, read its whole answer, and send the next, until time is
    up: unlike wrk, every request sent is answered and counted. The answers' statuses, counted."""
    statuses: Counter[int] = Counter()
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                writer.write(REQUEST)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                statuses[int(head.split(b" ", 2)[1])] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(connections)))
    return statuses


def test_under_concurrent_load_every_answered_batch_is_stored_once(tmp_path: Path) -> None:
    """The zero-loss check of the load tests with a client that reads all its answers: 24
    connections through the protocol path's group commits, the writer inserting every 500 events
    meanwhile, then SIGTERM. Stored must be exactly twice the 204s, no more, no less."""
    proc, base = start_server(tmp_path, FIDELIA_FLUSH_ROWS="500")
    try:
        port = int(base.rsplit(":", 1)[1])
        # A thread of its own: the browser tests' Playwright keeps an event loop running in this one.
        with ThreadPoolExecutor(1) as clients:
            statuses = clients.submit(lambda: asyncio.run(send_batches(port, connections=24, seconds=3))).result()
        metrics = httpx.get(base + "/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        stop_server(proc)
    assert set(statuses) == {204} and statuses[204] > 1000, statuses
    in_protocol = re.search(r"^fidelia_collector_protocol_answers_total (\d+)$", metrics, re.MULTILINE)
    assert in_protocol and int(in_protocol.group(1)) >= statuses[204]  # the group-commit path, not ASGI's
    inserts = re.search(r"^fidelia_flush_seconds_count (\d+)$", metrics, re.MULTILINE)
    assert inserts and int(inserts.group(1)) > 2  # the writer inserted while the clients were sending
    rows = read_store_in_subprocess(tmp_path / "clickhouse", "SELECT count(), uniqExact(event_id) FROM events")
    assert rows == [[2 * statuses[204], 2 * statuses[204]]]


def test_cli_says_the_store_is_held_by_the_server(served) -> None:
    _, _, data = served
    out = subprocess.run([*FIDELIA, "migrate"], env=env_for(data), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "held by another process" in out.stderr and "fidelia serve" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_setting_stops_start_up_with_its_name(tmp_path: Path) -> None:
    out = subprocess.run([*FIDELIA, "serve"], env=env_for(tmp_path, FIDELIA_FLUSH_ROWS="lots"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "FIDELIA_FLUSH_ROWS='lots'" in out.stderr and "Traceback" not in out.stderr


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    first = subprocess.run([*FIDELIA, "migrate"], env=env_for(tmp_path), capture_output=True, text=True, timeout=120)
    second = subprocess.run([*FIDELIA, "migrate"], env=env_for(tmp_path), capture_output=True, text=True, timeout=120)
    assert first.returncode == second.returncode == 0, first.stderr
    assert "0001_events" in first.stdout
    assert second.stdout.strip() == "store is up to date"


def test_server_whose_launcher_dies_shuts_down_and_flushes(tmp_path: Path) -> None:
    # A wrapper shell starts the server and is then killed outright: the server must not live
    # on as an orphan holding the store, and what it had buffered must be stored.
    port = free_port()
    env = env_for(tmp_path, FIDELIA_FLUSH_INTERVAL="600", FIDELIA_FLUSH_ROWS="100000")
    cmd = " ".join([*FIDELIA, "serve", "--port", str(port)])
    wrapper = subprocess.Popen(["bash", "-c", f"{cmd} >{tmp_path}/server.log 2>&1 & echo $!; wait"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    server_pid = int(wrapper.stdout.readline()) if wrapper.stdout else 0
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert time.time() < deadline, (tmp_path / "server.log").read_text()
        event = {"type": "pageview", "url": "https://shop.example/shop/r/sacs"}
        for _ in range(7):
            httpx.post(base + "/collect", json={"site_id": "demo", "events": [event]}, headers={"User-Agent": FIREFOX})
        wrapper.kill()
        wrapper.wait()
        deadline = time.time() + 60
        while _alive(server_pid):
            assert time.time() < deadline, "server outlived its launcher"
            time.sleep(0.2)
    finally:
        if wrapper.stdout:
            wrapper.stdout.close()
        if _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
    assert read_store_in_subprocess(tmp_path / "clickhouse", "SELECT count() FROM events") == [[7]]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


MULTI_CPU = pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda _: set())(0)) < 2,
                               reason="the event loop's CPU is only kept apart on Linux with 2 CPUs or more")


def thread_cpus(pid: int) -> dict[int, set[int]]:
    return {int(tid): os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


@MULTI_CPU
def test_serve_keeps_the_event_loop_on_a_cpu_of_its_own(served) -> None:
    proc, base, _ = served
    loop_cpu = max(os.sched_getaffinity(0))
    # Traffic makes the writer start its insert thread and ClickHouse its insert and merge threads.
    with httpx.Client(base_url=base, headers={"User-Agent": FIREFOX}) as client:
        for i in range(5):
            client.post("/collect", json={"site_id": "demo", "events": [{"type": "pageview",
                                                                          "url": f"https://shop.example/{i}"}]})
    time.sleep(2.5)  # past two re-placements (fidelia/cpus.py PLACE_EVERY)
    cpus = thread_cpus(proc.pid)
    assert cpus.pop(proc.pid) == {loop_cpu}  # uvicorn's loop runs in the main thread
    assert len(cpus) > 5  # ClickHouse's pools, the writer's worker, the placement thread
    assert all(loop_cpu not in c and c for c in cpus.values()), cpus


@MULTI_CPU
def test_a_thread_started_later_from_the_loop_is_moved_off_its_cpu() -> None:
    """Threads inherit their creator's CPUs: one the loop starts after a pass is on the loop's
    CPU until the next pass moves it (run in a child process: placing would pin pytest)."""
    script = """
import json, os, threading
from fidelia.cpus import CpuPlacement
placement = CpuPlacement.plan("auto", embedded=True)
stop = threading.Event()
early = threading.Thread(target=stop.wait); early.start()
placement.apply()
late = threading.Thread(target=stop.wait); late.start()
before = os.sched_getaffinity(late.native_id)
moved = placement.apply()
print(json.dumps({"loop": sorted(os.sched_getaffinity(0)), "early": sorted(os.sched_getaffinity(early.native_id)),
                  "late_before": sorted(before), "late_after": sorted(os.sched_getaffinity(late.native_id)),
                  "moved": moved, "plan_server": CpuPlacement.plan("auto", embedded=False) is None,
                  "plan_off": CpuPlacement.plan("off", embedded=True) is None}))
stop.set()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(out.stdout)
    allowed = os.sched_getaffinity(0)
    loop_cpu = max(allowed)
    assert seen["loop"] == [loop_cpu]
    assert seen["early"] == seen["late_after"] == sorted(allowed - {loop_cpu})
    assert seen["late_before"] == [loop_cpu] and seen["moved"] == 1
    assert seen["plan_server"] and seen["plan_off"]


def test_a_bad_loop_cpu_setting_is_refused_with_the_choices() -> None:
    out = subprocess.run([*FIDELIA, "serve"], env={**os.environ, "FIDELIA_LOOP_CPU": "first"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "FIDELIA_LOOP_CPU='first'" in out.stderr and "auto, off or a CPU number" in out.stderr
    assert "Traceback" not in out.stderr
