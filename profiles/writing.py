"""One writer at a time of a data directory's profiles: the profiles job, or an erasure.

An erasure that ran while a rebuild was between reading the events and writing its rows would be
undone by that rebuild: the person's profile written back to ClickHouse and to the snapshot, from
events read before they were deleted. So both hold this lock for their whole length; an erasure
waits for a running rebuild, and the next rebuild no longer finds the person. `fcntl.flock` on a
file in FIDELIA_DATA_DIR keeps out the threads of one process (each opens its own descriptor:
`fidelia serve` rebuilds in a thread while the admin API erases in another) and other processes
on the same directory alike.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def profile_writes(data_dir: Path) -> Iterator[None]:
    path = data_dir / "profiles" / ".writing.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
