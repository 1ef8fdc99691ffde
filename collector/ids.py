"""Random ids for events, visitors and sessions, from a pooled `os.urandom` read.

One `os.urandom` call per id was four system calls per two-event batch; reading 4 KB at a
time and slicing it keeps the same kernel randomness for a fraction of the cost. A forked
child starts a fresh pool, so two processes never hand out the same bytes.
"""

from __future__ import annotations

import os

POOL_BYTES = 4096


class RandomPool:
    """Slices of one urandom read; refilled when used up, emptied in a forked child."""

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._pos = b"", 0

    def take(self, n: int) -> bytes:
        pos = self._pos
        if pos + n > len(self._pool):
            self._pool, pos = os.urandom(POOL_BYTES), 0
        self._pos = pos + n
        return self._pool[pos : pos + n]


POOL = RandomPool()
random_bytes = POOL.take
