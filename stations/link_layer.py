"""A station's outgoing link layer: the core's impairment model and a delay queue.

The decision for each message (drop, duplicate, when to leave) is the core's
(``ringemu.core.impairments.LinkState``), the very model the simulator's links run; this shell
only keeps the copies that must wait in a heap ordered by release time and sends them when the
station's own loop gets round to it: the loop's single blocking ``recv`` times out at the head of
the queue (``next_due``), so no thread is added. While no impairment or cut is set and nothing
waits, the station bypasses this layer entirely (``engaged``) and its free-token fast path is
untouched.
"""

from __future__ import annotations

import heapq
from typing import Any

import zmq

from ringemu.core.impairments import NONE, Impairment, LinkState


class LinkLayer:
    """See the module docstring. ``sock`` is the station's ring PUSH socket."""

    def __init__(self, index: int, seed: int, impairment: Impairment, sock: zmq.Socket) -> None:
        self.index = index
        self.seed = seed
        self.sock = sock
        self.state: LinkState | None = None
        self.queue: list[tuple[float, int, bytes]] = []
        self.seq = 0
        self.dropped_full = 0
        """Copies dropped because the socket's queue was full (as the direct path counts)."""
        if impairment.active:
            self.set(impairment)

    @property
    def engaged(self) -> bool:
        """Must messages go through this layer? (an impairment, a cut, or copies waiting)"""
        return bool(self.queue) or (self.state is not None and not self.state.idle)

    def _state(self) -> LinkState:
        if self.state is None:
            self.state = LinkState.seeded(self.seed, self.index)
        return self.state

    def set(self, impairment: Impairment | None) -> None:
        """What the link does from now on (None: nothing); waiting copies keep their time."""
        self._state().set(NONE if impairment is None else impairment)

    def cut(self, station: Any, now: float) -> bool:
        return self._state().cut(station, now)

    def heal(self, station: Any, now: float) -> bool:
        return self._state().heal(station, now)

    @property
    def cut_to(self) -> int | None:
        return None if self.state is None else self.state.cut_to

    # -- sending ---------------------------------------------------------------------------------
    def put(self, msg: object, data: bytes, now: float, station: Any) -> None:
        """Hand ``msg`` (its octets ``data``) to the link: each copy the model lets through
        leaves now or waits in the queue; what the model drops is recorded by it."""
        queue = self.queue
        if queue and queue[0][0] <= now:
            self.flush(now)
        for at, in_order in self._state().transmit(msg, len(data), now, station):
            if at <= now and (not in_order or not queue):
                self._send(data)
            else:
                self.seq += 1
                heapq.heappush(queue, (at, self.seq, data))

    def flush(self, now: float) -> None:
        """Send every waiting copy whose time has come, in order."""
        queue = self.queue
        while queue and queue[0][0] <= now:
            self._send(heapq.heappop(queue)[2])

    def next_due(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def _send(self, data: bytes) -> None:
        try:
            self.sock.send(data, zmq.NOBLOCK)
        except zmq.Again:
            self.dropped_full += 1

    def stats(self) -> dict[str, int]:
        """The link's counters (``LinkStats``), what waits now, and full-queue drops."""
        out = self.state.stats.as_dict() if self.state is not None else {}
        out.update(waiting=len(self.queue), dropped_full=self.dropped_full)
        return out
