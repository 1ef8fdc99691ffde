"""Collector throughput per CPU core: events accepted per CPU-second of the `fidelia serve` process.

    .venv/bin/python -m loadtests.collector_core_bench --seconds 20 --concurrency 32 --batch 5

Starts `fidelia serve` on a fresh embedded store (127.0.0.1 only), posts `/collect` batches from
`--concurrency` keep-alive clients for `--seconds`, and divides the events accepted by the CPU
time the server process used meanwhile (utime + stime from /proc). CPU-seconds rather than wall
time, because this machine is shared: the figure is what one collector core sustains, whatever
else runs. In embedded mode the server process also does the ClickHouse inserts, so the figure
is a floor for a collector writing to a separate ClickHouse server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def batch(n: int, seq: int) -> dict[str, object]:
    return {"site_id": "demo", "events": [
        {"type": "pageview", "url": f"https://shop.example/fr/chaussures/{seq % 97}-{i}",
         "referrer": "https://www.google.com/", "rubrique": "chaussures", "props": {}} for i in range(n)]}


async def blast(base: str, seconds: float, concurrency: int, size: int) -> tuple[int, int]:
    accepted = refused = 0
    deadline = time.monotonic() + seconds

    async def worker(k: int) -> None:
        nonlocal accepted, refused
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            seq = k
            while time.monotonic() < deadline:
                response = await client.post("/collect", content=json.dumps(batch(size, seq)),
                                             headers={"Content-Type": "text/plain", "User-Agent": "Mozilla/5.0 "
                                                      "(X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
                if response.status_code == 204:
                    accepted += size
                else:
                    refused += 1
                seq += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return accepted, refused


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=5, help="events per /collect request")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fidelia-collector-bench-") as tmp:
        env = {**os.environ, "FIDELIA_DATA_DIR": tmp, "FIDELIA_CLICKHOUSE_DSN": f"chdb://{Path(tmp) / 'ch'}",
               "FIDELIA_PROFILES_EVERY_MINUTES": "0", "FIDELIA_LOG_LEVEL": "warning"}
        server = subprocess.Popen([sys.executable, "-m", "fidelia.cli", "serve", "--port", str(args.port)], env=env)
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            before, started = cpu_seconds(server.pid), time.perf_counter()
            accepted, refused = asyncio.run(blast(base, args.seconds, args.concurrency, args.batch))
            time.sleep(1.5)  # the last flush's insert belongs to these events
            cpu, wall = cpu_seconds(server.pid) - before, time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(json.dumps({"events": accepted, "refused_requests": refused, "wall_s": round(wall, 1),
                      "server_cpu_s": round(cpu, 1), "events_per_wall_s": round(accepted / wall),
                      "events_per_cpu_s": round(accepted / cpu) if cpu else None, "batch": args.batch,
                      "concurrency": args.concurrency}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
