"""Copies of what a station receives on its ring link, for live capture (``ringemu capture``).

Each station binds one XPUB socket, its *tap* (role ``tap``: over tcp it admits the operator's
CURVE key alone, over ipc it lives in the 0700 runtime folder). It publishes nothing until the
monitor says ``tap`` on, which the monitor does while at least one capture reader holds a lease
(``capture`` control request, renewed every second, given up after ``LEASE_S`` without news),
so a ring nobody captures pays one ``is None`` test per hop and nothing else.

While tapping, every octet string that arrives on the ring link (but the monitor's doorbell) is
copied, as it came, behind a ``COPY`` header: format version, station, the station's copy number
and the receive time in nanoseconds. What a station receives is what travels on the link into
it, so station K's copies are *link K* (from K's upstream neighbour into K), in order.

It never slows the ring: the copy is sent without blocking. The XPUB socket has
``XPUB_NODROP`` set, so when a reader's queue is full (``TAP_HWM`` copies waiting, the reader
not keeping up) the send fails at once instead of dropping silently: the copy is dropped and
counted (``tap_dropped`` in the station's stats, ``capture.dropped`` in ``ringemu status``).
Copies carry consecutive numbers, so a reader also sees each gap and counts it.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import zmq

COPY = struct.Struct(">BHQQ")
"""version, station, copy number (from 1), receive time (ns since the epoch)."""
VERSION = 1
TAP_HWM = 1_000
"""Copies a station keeps for one slow reader before it drops (a fraction of a second of its
traffic; the reader's own queue, ``ringemu capture --buffer``, is the larger one)."""
LEASE_S = 5.0
"""A reader's lease on the taps lasts this long without a renewal (a reader that died)."""


class TapPublisher:
    """The station side: ``copy(octets)`` while tapping; counts what it offered and dropped."""

    def __init__(self, sock: zmq.Socket, station: int) -> None:
        sock.sndhwm = TAP_HWM
        sock.setsockopt(zmq.XPUB_NODROP, 1)
        self.sock = sock
        self.station = station
        self.offered = 0
        self.dropped = 0
        self._send = zmq.backend.Socket.send
        self._pack = COPY.pack

    def forget_subscriptions(self) -> None:
        """Read away the (un)subscriptions readers sent: nothing acts on them (the monitor's
        leases say when to tap), but unread they would pile up for as long as the ring runs."""
        while True:
            try:
                self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return

    def copy(self, data: bytes) -> None:
        """Publish one copy of ``data`` without ever blocking (dropped and counted when full)."""
        self.offered += 1
        try:
            self._send(self.sock, self._pack(VERSION, self.station, self.offered,
                                             time.time_ns()) + data, zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1


@dataclass(frozen=True, slots=True)
class Copy:
    """One copy as a reader gets it."""

    station: int
    number: int
    time_ns: int
    octets: bytes
    """What arrived on the link: the link header (``ringemu.frames.link``), then 802.5 octets."""


def parse_copy(data: bytes) -> Copy | None:
    """A copy from a tap message; None for anything that is not one (counted by the reader)."""
    if len(data) < COPY.size:
        return None
    version, station, number, t_ns = COPY.unpack_from(data)
    if version != VERSION:
        return None
    return Copy(station, number, t_ns, data[COPY.size:])
