"""The job's resident memory, logged at debug level after each stage of a run.

`FIDELIA_LOG_LEVEL=debug` shows, after each stage (each bucket's extract, model and writes, the
recommender, the snapshot's publication), the process's resident set now (`VmRSS`), its peak so
far (`VmHWM`) and how much of that peak this stage set (the rise since the previous line: the
stage that sets a run's peak shows a rise, the others +0), and what Arrow's memory pool holds:
enough to see which stage grows with the population. The peak is only read, never reset
(resetting it through /proc/self/clear_refs would also reset what the bench's ru_maxrss reads).
Nothing is read unless debug logging is on.
"""

from __future__ import annotations

import logging
import resource
import sys
from collections.abc import Callable

import pyarrow as pa

MIB = 1 << 20
_last_peak = [0]  # VmHWM at the previous line of this process


def status_bytes() -> tuple[int, int] | None:
    """The resident set of this process now and its peak so far, from /proc/self/status (None
    where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return None
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def peak_bytes() -> int:
    """The largest resident set this process had so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def log_memory(log: logging.Logger, stage: str, detail: Callable[[], str] | None = None) -> None:
    """One debug line after `stage`: resident now, peak and the peak's rise in this stage, Arrow's
    pool (and `detail()` when given)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    read = status_bytes()
    now, peak = read if read is not None else (None, peak_bytes())
    rise, _last_peak[0] = max(0, peak - _last_peak[0]), peak
    log.debug("memory after %s: rss %s MiB, peak %d MiB (+%d here), arrow pool %d MiB%s", stage,
              "?" if now is None else now // MIB, peak // MIB, rise // MIB, pa.total_allocated_bytes() // MIB,
              f", {detail()}" if detail else "")
