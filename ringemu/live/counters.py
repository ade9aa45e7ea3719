"""Every station's token passes in one shared page, readable without waking anyone.

The launcher maps an anonymous shared array (one 64-bit count a station) before it forks the
monitor and the stations, so all of them, and only they, share it. Each station writes its
count of token units received (free tokens and busy frames: one a rotation) after every one,
a single store, as the raw benchmark ring does; the monitor reads the array whenever it
wants the ring's hop rate, and the launcher's process (``scripts/bench``) too.

Why: asking every station for its counters means waking every station, so the monitor's cost
of knowing the hop rate grew with the ring (at 512 stations, four rounds a second of 512
commands, 512 wake-ups and 512 JSON replies, as much work as a sixth of the ring's hops). The
other counters (mode, queue, errors) still come as ``stats`` replies, far less often.

Only processes forked by the launcher share it: a station started on its own
(``python -m stations CONFIG.json``) has none and is counted from its ``stats`` as before.
"""

from __future__ import annotations

import ctypes
import mmap


class SharedCounters:
    """``n`` shared counts; index ``i`` is station ``i``'s token passes."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._map = mmap.mmap(-1, 8 * max(1, n))  # anonymous and shared: inherited by forks
        self.array = (ctypes.c_int64 * max(1, n)).from_buffer(self._map)

    def __getitem__(self, i: int) -> int:
        return self.array[i]

    def total(self) -> int:
        return sum(self.array[: self.n])

    def values(self) -> list[int]:
        return self.array[: self.n]
