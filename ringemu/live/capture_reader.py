"""The reader side of live capture: the stations' tap copies as one pcap stream.

``CaptureReader`` takes a lease on the taps of a running ring (``capture`` control request,
renewed every ``RENEW_S``), subscribes to each station's tap (over tcp as the operator, with
CURVE), turns each copy into its pcap record (``codec.capture_record``; a damaged frame, such
as an injected ``corrupt``, with ``codec.damaged_record``) and writes the records in time
order: copies wait ``window`` seconds in a heap so that the links, which arrive interleaved,
come out merged by their receive times; each link stays in its own order whatever happens.

The ring never waits for a reader (``ringemu.live.tap``). A reader that falls behind loses
copies at the stations; every copy is numbered, so each gap is counted here (``dropped``), and
the stations count theirs (``capture.dropped`` in ``ringemu status``).
"""

from __future__ import annotations

import heapq
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import zmq

from ringemu.core.messages import Amp, Claim, Frame, Marker, Purge, Token
from ringemu.errors import MalformedFrame, RingemuError
from ringemu.frames import link
from ringemu.frames.codec import MacFrame, capture_record, damaged_record, decode
from ringemu.frames.pcapstream import PcapStream
from ringemu.live.client import ControlClient, RingUnreachable
from ringemu.live.keys import RunKeys
from ringemu.live.paths import RingInfo
from ringemu.live.sockets import connect
from ringemu.live.tap import parse_copy

RENEW_S = 1.0
"""How often the reader renews its lease (and learns the taps of restarted stations)."""
WINDOW_S = 0.1
"""How long copies wait to be merged by time before they are written."""
READER_HWM = 50_000
"""Copies this reader queues per link before ZeroMQ stops taking more (the stations then
drop); ``ringemu capture --buffer``."""
KINDS = {Token: "tokens", Frame: "frames", Marker: "markers", Purge: "purges",
         Claim: "mac", Amp: "mac", MacFrame: "mac"}


@dataclass
class CaptureCounts:
    """What a capture wrote and what it lost."""

    records: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("tokens", "frames", "markers", "purges", "mac", "damaged"), 0))
    dropped: int = 0
    """Copies that never reached this reader (gaps in the stations' copy numbers)."""
    unreadable: int = 0
    """Messages on a tap that were not copies, or copies of octets no record can show."""
    links: set[int] = field(default_factory=set)

    def describe(self) -> str:
        k = self.kinds
        links = sorted(self.links)
        where = ("no link" if not links else f"link {links[0]}" if len(links) == 1
                 else f"{len(links)} links")
        return (f"{self.records:,} records from {where} ({k['tokens']:,} tokens, "
                f"{k['frames']:,} frames, {k['markers']:,} markers, {k['purges']:,} purges, "
                f"{k['mac']:,} other MAC frames, {k['damaged']:,} damaged); "
                f"{self.dropped:,} copies dropped while this reader was behind "
                f"(the ring never waits for a capture)"
                + (f"; {self.unreadable:,} unreadable" if self.unreadable else ""))


class CaptureReader:
    """Live capture of one ring; see the module docstring. ``stations`` limits it to those
    links (None: every link); records go to ``out``."""

    def __init__(self, info: RingInfo, out: PcapStream, stations: list[int] | None = None,
                 window: float = WINDOW_S, buffer: int = READER_HWM) -> None:
        self.info = info
        self.out = out
        self.stations = stations
        self.window_ns = int(window * 1e9)
        self.client_id = f"capture-{os.getpid()}-{os.urandom(4).hex()}"
        self.control = ControlClient.for_ring(info)
        tcp = any(str(e).startswith("tcp://") for e in info.endpoints.values())
        self.keys = RunKeys.load(Path(info.runtime_dir)) if tcp else None
        self.ctx = zmq.Context.instance()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.rcvhwm = buffer
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.connected: set[str] = set()
        self.counts = CaptureCounts()
        self.last_number: dict[int, int] = {}
        self.last_time: dict[int, int] = {}
        self.heap: list[tuple[int, int, int, bytes, str]] = []
        self.ended: str | None = None
        """Why the capture ended on its own (the ring stopped), else None."""
        self.new_taps: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
        self.ring_gone = threading.Event()
        self._lease_stop = threading.Event()

    # -- the lease ------------------------------------------------------------------------------
    def renew(self) -> bool:
        """Take or renew the lease, queue new taps for subscription; False when the ring is
        gone. Runs in the lease thread, so a reader held up writing (a slow pipe) keeps its
        lease: it is slow, not dead, and what it misses is counted."""
        try:
            reply = self.control.request({"cmd": "capture", "client": self.client_id,
                                          "on": True, "stations": self.stations}, timeout=2.0)
        except RingUnreachable:
            return self.info.launcher_alive()  # a busy monitor: try again; a gone ring: stop
        if not reply.get("ok"):
            raise RingemuError(f"capture refused: {reply.get('error')}")
        taps = reply.get("stations")
        for k, endpoint in (taps.items() if isinstance(taps, dict) else ()):
            if isinstance(endpoint, str) and endpoint not in self.connected:
                self.connected.add(endpoint)
                self.new_taps.put((int(k), endpoint))
        return True

    def _lease_loop(self) -> None:
        while not self._lease_stop.wait(RENEW_S):
            try:
                alive = self.renew()
            except RingemuError:
                alive = False
            if not alive:
                self.ring_gone.set()
                return

    def _connect_new(self) -> None:
        while True:
            try:
                station, endpoint = self.new_taps.get_nowait()
            except queue.Empty:
                return
            self._subscribe(station, endpoint)

    def _subscribe(self, station: int, endpoint: str) -> None:
        if self.keys is None:
            connect(self.sub, endpoint)
        else:
            op = self.keys.for_operator().own
            connect(self.sub, endpoint, op, self.keys.stations[station].public)

    def give_up(self) -> None:
        try:
            self.control.request({"cmd": "capture", "client": self.client_id, "on": False},
                                 timeout=1.0)
        except RingUnreachable:
            pass

    # -- copies to records ----------------------------------------------------------------------
    def take(self, data: bytes) -> None:
        """One tap message: count it and queue its record for writing."""
        c = parse_copy(data)
        if c is None or (self.stations is not None and c.station not in self.stations):
            self.counts.unreadable += 1
            return
        last = self.last_number.get(c.station)
        if last is not None and c.number > last + 1:
            self.counts.dropped += c.number - last - 1
        self.last_number[c.station] = c.number  # a restarted station counts from 1 again
        try:
            _, body = link.split(c.octets)
        except MalformedFrame:
            self.counts.unreadable += 1
            return
        try:
            msg = decode(body)
            record = capture_record(msg)
            kind = KINDS.get(type(msg), "mac")
        except MalformedFrame:
            record = damaged_record(body)
            kind = "damaged"
        if record is None:
            self.counts.unreadable += 1
            return
        t = max(c.time_ns, self.last_time.get(c.station, 0))  # each link in its own order
        self.last_time[c.station] = t
        heapq.heappush(self.heap, (t, c.station, c.number, record, kind))

    def write_due(self, now_ns: int | None = None, limit: int | None = None) -> int:
        """Write the records older than the merge window (all of them with ``now_ns`` None);
        at most ``limit``. Returns how many were written."""
        cut = None if now_ns is None else now_ns - self.window_ns
        n = 0
        heap, out, counts = self.heap, self.out, self.counts
        while heap and (cut is None or heap[0][0] <= cut) and (limit is None or n < limit):
            t, station, _, record, kind = heapq.heappop(heap)
            out.write(record, t)
            counts.kinds[kind] += 1
            counts.links.add(station)
            n += 1
        counts.records += n
        return n

    # -- the loop -------------------------------------------------------------------------------
    def run(self, stop: Callable[[], bool], count: int | None = None,
            duration: float | None = None) -> CaptureCounts:
        """Capture until ``stop()`` is true, ``count`` records are written, ``duration``
        seconds pass or the ring stops. A broken pipe (the reader at the other end left) ends
        it too, as ``BrokenPipeError``."""
        deadline = None if duration is None else time.monotonic() + duration
        if not self.renew():
            self.ended = "the ring is not running"
            return self.counts
        lease = threading.Thread(target=self._lease_loop, name="capture-lease", daemon=True)
        lease.start()
        sub = self.sub
        try:
            while not stop():
                self._connect_new()
                left = None if count is None else count - self.counts.records
                if left is not None and left <= 0:
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if sub.poll(50):
                    for _ in range(10_000):
                        try:
                            self.take(sub.recv(zmq.NOBLOCK))
                        except zmq.Again:
                            break
                if self.write_due(time.time_ns(), left):
                    self.out.flush()
                if self.ring_gone.is_set():
                    self.ended = "the ring stopped"
                    break
        finally:
            self._lease_stop.set()
            lease.join(timeout=3.0)
            self.give_up()
        left = None if count is None else max(0, count - self.counts.records)
        self.write_due(None, left)
        self.out.flush()
        return self.counts

    def close(self) -> None:
        self.sub.close(linger=0)
