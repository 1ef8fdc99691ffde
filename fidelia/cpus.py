"""One CPU for the event loop, the others for the embedded ClickHouse's threads.

With the embedded store, ClickHouse's inserts and merges run in this process beside the event
loop that answers `/collect`. Measured on this 2-core machine (docs/PERFORMANCE.md), once the
store holds ~1M events the loop at 14,000 req/s waited on the run queue 5-7% of the time,
always in bursts while an insert or a merge ran, and p99 rose from ~6 ms to 33-145 ms. Nice
values and SCHED_IDLE on ClickHouse's threads did not stop it; giving the loop a CPU of its own
did: the wait fell to ~1% and p99 to 15-17 ms.

So `fidelia serve` puts the loop's thread on one CPU (FIDELIA_LOOP_CPU; `auto`: the last one it
may use) and every other thread of the process on the rest. Threads inherit their creator's
CPUs, but ClickHouse and Python start some later from threads of either side, so the placement
is re-applied every PLACE_EVERY seconds; a pass is one listing of /proc/self/task and a few
system calls. Nothing is done on a single CPU, outside Linux, or with a ClickHouse server (the
loop then has no heavy neighbour in its process).
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

PLACE_EVERY = 1.0  # seconds between two passes over the process's threads
TASKS = "/proc/self/task"


class CpuPlacement:
    """The loop's thread on `loop_cpu`, every other thread of the process on `others`."""

    def __init__(self, loop_cpu: int, others: frozenset[int], loop_thread: int) -> None:
        self.loop_cpu = loop_cpu
        self.others = others
        self.loop_thread = loop_thread  # native thread id
        self._placed: set[int] = set()  # thread ids already placed: nothing moves a thread back

    @classmethod
    def plan(cls, setting: str, embedded: bool) -> CpuPlacement | None:
        """The placement FIDELIA_LOOP_CPU asks for, for the calling thread, or None when there is
        nothing to keep apart (setting `off`, a server store, one CPU, no Linux affinity calls)."""
        if setting == "off" or not embedded or not hasattr(os, "sched_setaffinity"):
            return None
        allowed = os.sched_getaffinity(0)
        if len(allowed) < 2:
            return None
        loop_cpu = max(allowed) if setting == "auto" else int(setting)
        if loop_cpu not in allowed:
            log.warning("FIDELIA_LOOP_CPU=%s: this process may only use CPUs %s; the event loop is not pinned",
                        setting, sorted(allowed))
            return None
        return cls(loop_cpu, frozenset(allowed - {loop_cpu}), threading.get_native_id())

    def apply(self) -> int:
        """Place the threads not placed yet; returns how many were moved. A thread that ends
        during the pass is skipped. Only new threads cost system calls: a pass over ~40 threads
        that checked every CPU set took ~6 ms a second (py-spy, under load)."""
        moved = 0
        present = {int(name) for name in os.listdir(TASKS)}
        self._placed &= present
        for tid in present - self._placed:
            wanted = {self.loop_cpu} if tid == self.loop_thread else self.others
            try:
                if os.sched_getaffinity(tid) != wanted:
                    os.sched_setaffinity(tid, wanted)
                    moved += 1
                self._placed.add(tid)
            except OSError:  # gone meanwhile (ESRCH), or not ours to move
                continue
        return moved

    def keep(self) -> threading.Thread:
        """Apply the placement now and then every PLACE_EVERY seconds, from a daemon thread (itself
        one of the others), for as long as the process runs."""
        moved = self.apply()
        log.info("event loop on CPU %d, %d other thread(s) on CPUs %s", self.loop_cpu, moved, sorted(self.others))
        thread = threading.Thread(target=self._reapply, name="fidelia-cpus", daemon=True)
        thread.start()
        return thread

    def _reapply(self) -> None:
        stop = threading.Event()  # never set: the thread ends with the process
        while not stop.wait(PLACE_EVERY):
            self.apply()
