"""Knowing within milliseconds that a station's process is gone.

A station that dies takes its sockets with it, and every peer connected to them sees the
connection drop at once: ZeroMQ's socket monitor reports ``EVENT_DISCONNECTED`` within a few
milliseconds, over tcp and ipc alike (``../shared/notes/performance-baselines.md``). The
monitor is such a peer of every station (its connection to the station's command socket, as a
ring neighbour's is to its ring link), so it watches those connections: a thread of its own
blocks on their monitor sockets and hands the monitor's loop the index of a station whose
connection dropped. The loop then asks the kernel (the launcher's records: pid and start time)
whether that process is really gone before it bypasses the station: a dropped connection alone
is not a death.
"""

from __future__ import annotations

import struct
import threading

import zmq


def monitor_event(frames: list[bytes]) -> int:
    """The event number of a ZeroMQ socket-monitor message (its first frame starts with it,
    16 bits). Read here rather than with ``zmq.utils.monitor``, which imports asyncio: 30 ms
    of every ``ringemu`` command's start."""
    if not frames or len(frames[0]) < 2:
        return 0
    return struct.unpack("=H", frames[0][:2])[0]


class LinkWatch:
    """See the module docstring. ``add`` from the monitor's thread; ``socket`` is what the
    monitor's poller waits on; ``take`` gives the stations whose connection dropped."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.ctx = ctx
        self._notify = ctx.socket(zmq.PAIR)
        self._notify.bind(f"inproc://ringemu-linkwatch-{id(self)}")
        self._wake_tx = ctx.socket(zmq.PAIR)
        self._wake_rx = ctx.socket(zmq.PAIR)
        self._wake_rx.bind(f"inproc://ringemu-linkwatch-wake-{id(self)}")
        self._wake_tx.connect(f"inproc://ringemu-linkwatch-wake-{id(self)}")
        self._lock = threading.Lock()
        self._new: list[tuple[zmq.Socket, int]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="linkwatch", daemon=True)
        self._thread.start()

    @property
    def socket(self) -> zmq.Socket:
        return self._notify

    def add(self, sock: zmq.Socket, station: int) -> None:
        """Watch ``sock`` (a connection to station ``station``) for a dropped peer."""
        mon = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        with self._lock:
            self._new.append((mon, station))
        self._wake_tx.send(b"+")

    def take(self) -> list[int]:
        out = []
        while True:
            try:
                out.append(int(self._notify.recv(zmq.NOBLOCK)))
            except zmq.Again:
                return out

    def _run(self) -> None:
        tell = self.ctx.socket(zmq.PAIR)
        tell.connect(f"inproc://ringemu-linkwatch-{id(self)}")
        poller = zmq.Poller()
        poller.register(self._wake_rx, zmq.POLLIN)
        watched: dict[zmq.Socket, int] = {}
        while not self._stop:
            for sock, _ in poller.poll():
                if sock is self._wake_rx:
                    self._wake_rx.recv()
                    with self._lock:
                        new, self._new = self._new, []
                    for mon, station in new:
                        watched[mon] = station
                        poller.register(mon, zmq.POLLIN)
                    continue
                try:
                    event = monitor_event(sock.recv_multipart())
                except zmq.ZMQError:
                    poller.unregister(sock)
                    continue
                if event == zmq.EVENT_DISCONNECTED:
                    tell.send(str(watched[sock]).encode())
        for mon in watched:
            mon.close(linger=0)
        tell.close(linger=0)
        self._wake_rx.close(linger=0)

    def close(self) -> None:
        self._stop = True
        try:
            self._wake_tx.send(b"x")
        except zmq.ZMQError:
            pass
        self._thread.join(timeout=1.0)
        self._wake_tx.close(linger=0)
        self._notify.close(linger=0)
