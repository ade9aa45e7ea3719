"""ZeroMQ plumbing shared by the station, monitor and client processes.

Every listening socket gets a ZAP domain and the process runs a ZAP handler
(``ZapHandler``): without one, a stranger's random bytes reach
``recv()`` through the old ZMTP fallback (``../shared/notes/zeromq-and-faults.md``). Over tcp the
handler admits 127.0.0.1 only; over ipc the sockets live in a 0700 folder of the user's and the
handler admits NULL peers that complete a proper handshake. Sockets never linger on close, and
senders never block on a dead peer (``send_nowait``): a token sent to a dead station is lost,
which is exactly what a snapshot must then find.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import zmq

log = logging.getLogger(__name__)

ZAP_DOMAIN = b"ringemu"
LOOPBACK = "127.0.0.1"


class ZapHandler:
    """A minimal ZAP handler (RFC 27) in a plain thread: NULL mechanism only; over tcp only
    127.0.0.1 peers.

    Why not ``zmq.auth.thread.ThreadAuthenticator``: in pyzmq 27 it runs an asyncio loop whose
    thread wakes with the process's socket activity, which cut a ring's hop rate several times
    over (figures in docs/benchmarks.md). This thread sleeps in a blocking ``recv`` and costs
    nothing between handshakes (each peer is authenticated once, when it connects).
    """

    ENDPOINT = "inproc://zeromq.zap.01"

    def __init__(self, ctx: zmq.Context, transport: str) -> None:
        self.transport = transport
        self.sock = ctx.socket(zmq.REP)
        self.sock.linger = 0
        self.sock.bind(self.ENDPOINT)
        self.stop_endpoint = f"inproc://ringemu-zap-stop-{id(self)}"
        self._stop_rx = ctx.socket(zmq.PAIR)
        self._stop_rx.bind(self.stop_endpoint)
        self._stop_tx = ctx.socket(zmq.PAIR)
        self._stop_tx.connect(self.stop_endpoint)
        self.allowed = 0
        self.denied = 0
        self.thread = threading.Thread(target=self._run, name="zap", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self._stop_rx, zmq.POLLIN)
        while True:
            ready = dict(poller.poll())
            if self._stop_rx in ready:
                break
            if self.sock in ready:
                try:
                    request = self.sock.recv_multipart()
                except zmq.ZMQError:
                    break
                self.sock.send_multipart(self._answer(request))
        self.sock.close(linger=0)
        self._stop_rx.close(linger=0)

    def _answer(self, frames: list[bytes]) -> list[bytes]:
        if len(frames) < 6:
            return [b"1.0", b"", b"500", b"malformed ZAP request", b"", b""]
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        ok = mechanism == b"NULL" and (
            self.transport != "tcp" or address.decode(errors="replace") == LOOPBACK
        )
        if ok:
            self.allowed += 1
            return [version, request_id, b"200", b"OK", b"", b""]
        self.denied += 1
        log.warning("ZAP denied a %s peer from %r", mechanism.decode(errors="replace"), address)
        return [version, request_id, b"400", b"not allowed", b"", b""]

    def stop(self) -> None:
        try:
            self._stop_tx.send(b"")
        except zmq.ZMQError:
            pass
        self.thread.join(timeout=1.0)
        self._stop_tx.close(linger=0)


def start_authenticator(ctx: zmq.Context, transport: str) -> ZapHandler:
    return ZapHandler(ctx, transport)


def endpoint_for(transport: str, folder: Path, name: str) -> str:
    """Where to bind ``name``: an ipc path in ``folder``, or a random loopback tcp port."""
    if transport == "ipc":
        return f"ipc://{folder / name}"
    if transport == "tcp":
        return f"tcp://{LOOPBACK}:*"
    raise ValueError(f"unknown transport {transport!r}")


def bind(sock: zmq.Socket, endpoint: str) -> str:
    """Bind with ZAP on; returns the concrete endpoint (the port chosen for ``tcp://...:*``)."""
    sock.zap_domain = ZAP_DOMAIN
    sock.linger = 0
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://"):]
        if os.path.exists(path):
            os.unlink(path)
    sock.bind(endpoint)
    return sock.last_endpoint.decode()


def check_loopback(endpoint: str) -> None:
    """Refuse to talk to anything but loopback or an ipc path (a hard rule of this project)."""
    if endpoint.startswith("ipc://"):
        return
    if endpoint.startswith("tcp://127.") or endpoint.startswith("tcp://localhost:"):
        return
    raise ValueError(f"refusing non-loopback endpoint {endpoint!r}")


def connect(sock: zmq.Socket, endpoint: str) -> None:
    check_loopback(endpoint)
    sock.linger = 0
    sock.connect(endpoint)


def send_nowait(sock: zmq.Socket, data: bytes) -> bool:
    """Queue ``data`` without ever blocking; False when the peer's queue is full (dropped)."""
    try:
        sock.send(data, zmq.NOBLOCK)
        return True
    except zmq.Again:
        return False
