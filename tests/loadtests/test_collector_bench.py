"""collector_bench keeps its load generators off the servers' event-loop CPU (which CPUs it picks
for a process allowed one CPU, and for one allowed several) and gives its pacer real-time
priority only where the kernel allows it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAP_SYS_NICE = 23  # linux/capability.h

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")


def split_cpus_within(cpus: set[int]) -> str:
    """loadtests.collector_bench.split_cpus() as printed by a process allowed only `cpus`."""
    code = "from loadtests.collector_bench import split_cpus; print(split_cpus())"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, cpus)).stdout.strip()


def test_one_cpu_is_not_split() -> None:
    cpu = min(os.sched_getaffinity(0))
    assert split_cpus_within({cpu}) == "None"


def test_the_last_cpu_is_the_loops_and_the_others_the_generators() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("this machine lets the tests use one CPU only")
    two = {allowed[0], allowed[-1]}
    assert split_cpus_within(two) == f"({allowed[-1]}, {{{allowed[0]}}})"


def test_realtime_is_tried_and_undone() -> None:
    """The answer follows what the kernel allows, and the check leaves this process as it was."""
    from loadtests.collector_bench import realtime_permitted

    before = os.sched_getscheduler(0), os.sched_getparam(0)
    permitted = realtime_permitted()
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
    assert permitted == (_has_cap_sys_nice() or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] > 0)


def _has_cap_sys_nice() -> bool:
    effective = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapEff:"))
    return bool(int(effective.split()[1], 16) >> CAP_SYS_NICE & 1)
