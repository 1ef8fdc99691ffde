"""An open-loop load generator: POST requests at a fixed rate, latency counted from the schedule.

wrk runs closed-loop (each connection sends its next request when the last one is answered),
so it measures the maximum rate but not the latency at a given load; wrk2 is not packaged in
Debian. This sends request k at `start + k / rate` on a pool of keep-alive connections and
measures each latency from that scheduled time, not from when a connection became free, so a
server stall counts against every request it delayed (no coordinated omission). It prints one
JSON line: rate achieved, status counts, p50/p90/p99/max in ms.

    .venv/bin/python -m loadtests.pacer --port 8000 --rate 5000 --seconds 10 --body-file batch.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

HEADER_END = b"\r\n\r\n"


def build_request(host: str, port: int, path: str, body: bytes, user_agent: str, content_type: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {user_agent}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Status code of one keep-alive response; its body is read and dropped."""
    head = await reader.readuntil(HEADER_END)
    status = int(head[9:12])
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            await reader.readexactly(int(line[15:]))
    return status


async def worker(host: str, port: int, requests: list[bytes], slots: itertools.count, start: float,
                 rate: float, end: float, latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for k in slots:
            due = start + k / rate
            if due >= end:
                return
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(requests[k % len(requests)])
            status = await read_response(reader)
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run(host: str, port: int, requests: list[bytes], rate: float, seconds: float,
              connections: int) -> dict[str, float | dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    slots = itertools.count()
    start = time.perf_counter() + 0.2
    end = start + seconds
    await asyncio.gather(*(worker(host, port, requests, slots, start, rate, end, latencies, statuses)
                           for _ in range(connections)))
    elapsed = max(time.perf_counter() - start, 1e-9)
    latencies.sort()

    def quantile(q: float) -> float:
        return round(1000 * latencies[min(int(q * len(latencies)), len(latencies) - 1)], 2) if latencies else 0.0

    return {"target_rate": rate, "rate": round(len(latencies) / elapsed, 1), "requests": len(latencies),
            "statuses": statuses, "p50_ms": quantile(0.5), "p90_ms": quantile(0.9), "p99_ms": quantile(0.99),
            "max_ms": quantile(1.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/collect")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--body-file", type=Path, required=True, help="JSON lines: one request body per line")
    parser.add_argument("--user-agent", action="append", default=[], help="repeat for a mix")
    parser.add_argument("--content-type", default="text/plain")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("load is only sent to this machine (127.0.0.1)")
    if args.rate <= 0 or args.seconds <= 0 or args.connections <= 0:
        parser.error("--rate, --seconds and --connections must be above 0")
    bodies = [line.encode() for line in args.body_file.read_text().splitlines() if line.strip()]
    agents = args.user_agent or ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"]
    requests = [build_request(args.host, args.port, args.path, body, agent, args.content_type)
                for body, agent in itertools.product(bodies, agents)]
    loop_factory: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # plain asyncio is slower but measures the same thing
        loop_factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(args.host, args.port, requests, args.rate, args.seconds, args.connections))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
