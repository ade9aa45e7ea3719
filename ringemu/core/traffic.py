"""Light background payload traffic, so that free tokens and busy frames both circulate.

The model is per token visit, not per second: each time the free token reaches a station, the
station has a new payload to send with probability ``p``. That keeps the ring's load independent
of how fast the ring turns (the simulator's virtual microseconds and a live ring's real ones give
the same mix) and needs no clock. With ``load`` the wanted fraction of rotations that carry a busy
frame, ``p = load / ((1 - load) * N)``: one capture costs one whole extra rotation.

Instead of a random draw per visit, the gap to the next payload is drawn once from the geometric
distribution, so the hot path only decrements a counter.
"""

from __future__ import annotations

import math
import random


def visit_probability(load: float, n_stations: int) -> float:
    """Per-visit capture probability giving ``load`` busy rotations on a ring of ``n_stations``."""
    if not 0.0 <= load < 1.0:
        raise ValueError(f"load must be in [0, 1), got {load}")
    if load == 0.0:
        return 0.0
    return min(1.0, load / ((1.0 - load) * max(1, n_stations)))


class Traffic:
    """Generates payloads for one station.

    The station counts visits itself (a countdown in its own slots, so the hot path touches no
    other object): it asks ``gap()`` how many visits until the next payload (-1: never), and
    ``payload()`` for the (destination, size) when the countdown reaches zero.
    """

    __slots__ = ("station", "n_stations", "p", "size", "rng", "_log1mp")

    def __init__(
        self, station: int, n_stations: int, p: float, size: int, rng: random.Random
    ) -> None:
        if n_stations < 2 and p > 0:
            raise ValueError("traffic needs at least two stations")
        self.station = station
        self.n_stations = n_stations
        self.p = p
        self.size = size
        self.rng = rng
        self._log1mp = math.log1p(-p) if 0.0 < p < 1.0 else 0.0

    def gap(self) -> int:
        """Visits until the next payload (>= 1), geometric with success probability ``p``;
        -1 when ``p`` is 0 (a countdown from -1 never reaches zero)."""
        if self.p <= 0.0:
            return -1
        if self.p >= 1.0:
            return 1
        u = self.rng.random()
        if self._log1mp == 0.0:  # p too small to show in a float: never
            return -1
        return 1 + int(min(math.log1p(-u) / self._log1mp, 2.0**62))

    def payload(self) -> tuple[int, int]:
        """The payload that is due now: (destination, size), to any other station."""
        dst = self.rng.randrange(self.n_stations - 1)
        if dst >= self.station:
            dst += 1
        return dst, self.size
