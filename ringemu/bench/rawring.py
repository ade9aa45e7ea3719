"""The baseline: a raw pyzmq ring of N processes passing one 3-byte token (no ringemu code).

Each process binds a PULL socket, connects a PUSH to the next one and loops on a blocking
``recv`` then ``send``: the least any ZeroMQ token ring in Python can do per hop, with the
standard pyzmq API. ``direct=True`` calls pyzmq's Cython socket methods directly, as ringemu's
stations do, for a like-for-like comparison. It uses the
transport ringemu uses by default (``ipc://``). Hop counts live in a shared array so the parent
can read them without touching the ring.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
import tempfile
import time
from pathlib import Path

from ringemu.live.procutil import end_groups, fork_child

TOKEN = b"\x90\x00\xb4"  # SD AC ED: the same 3 octets as ringemu's free token


def _station(i: int, n: int, folder: str, counters, cpu: int | None, direct: bool) -> int:
    import zmq

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    ctx = zmq.Context(1)
    pull = ctx.socket(zmq.PULL)
    pull.bind(f"ipc://{folder}/raw-{i}")
    push = ctx.socket(zmq.PUSH)
    push.connect(f"ipc://{folder}/raw-{(i + 1) % n}")
    if i == 0:
        time.sleep(0.2)  # let every station bind before the token starts
        push.send(TOKEN)
    count = 0
    recv, send = pull.recv, push.send
    if direct:  # what ringemu's stations do: skip pyzmq's Python-level send wrapper
        recv = zmq.backend.Socket.recv.__get__(pull)
        send = zmq.backend.Socket.send.__get__(push)
    while True:
        data = recv()
        send(data)
        count += 1
        counters[i] = count


class RawRing:
    """A running raw ring; ``hops()`` reads the total so far."""

    def __init__(self, n: int, pin: str | None = None, direct: bool = False) -> None:
        self.n = n
        self.folder = tempfile.mkdtemp(prefix="rawring-")
        self._mem = mmap.mmap(-1, 8 * n)
        self.counters = (ctypes.c_int64 * n).from_buffer(self._mem)
        cpus = sorted(os.sched_getaffinity(0))
        self.records = []
        for i in range(n):
            cpu = cpus[0] if pin == "one" else None
            rec = fork_child(
                lambda i=i, cpu=cpu: _station(i, n, self.folder, self.counters, cpu, direct), None)
            self.records.append(rec)

    def hops(self) -> int:
        return sum(self.counters)

    def stop(self) -> None:
        end_groups(self.records, grace=0.2)
        for p in Path(self.folder).glob("raw-*"):
            p.unlink(missing_ok=True)
        os.rmdir(self.folder)


def measure(n: int, seconds: float, warmup: float = 0.5, pin: str | None = None,
            direct: bool = False) -> float:
    """Hops per second of a raw ring of ``n`` processes."""
    ring = RawRing(n, pin, direct)
    try:
        time.sleep(0.2 + warmup)
        h1, t1 = ring.hops(), time.monotonic()
        time.sleep(seconds)
        h2, t2 = ring.hops(), time.monotonic()
        return (h2 - h1) / (t2 - t1)
    finally:
        ring.stop()
