"""The job's resident memory, logged at debug level after each stage of a run.

`FIDELIA_LOG_LEVEL=debug` shows, after each stage (each bucket's extract, model and writes, the
recommender, the snapshot's publication), the process's resident set now (/proc/self/statm),
its peak so far (ru_maxrss) and what Arrow's memory pool holds: enough to see which stage grows
with the population. Nothing is read unless debug logging is on.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
from collections.abc import Callable

import pyarrow as pa

MIB = 1 << 20
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """The resident set of this process now (None where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except OSError:
        return None


def peak_bytes() -> int:
    """The largest resident set this process had so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def log_memory(log: logging.Logger, stage: str, detail: Callable[[], str] | None = None) -> None:
    """One debug line: resident now, peak, Arrow's pool, after `stage` (and `detail()` when given)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    now = resident_bytes()
    log.debug("memory after %s: rss %s MiB, peak %d MiB, arrow pool %d MiB%s", stage,
              "?" if now is None else now // MIB, peak_bytes() // MIB, pa.total_allocated_bytes() // MIB,
              f", {detail()}" if detail else "")
