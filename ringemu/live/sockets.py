"""ZeroMQ plumbing shared by the station, monitor and client processes.

Every listening socket gets a ZAP domain and the process runs a ZAP handler
(``zmq.auth.thread.ThreadAuthenticator``): without one, a stranger's random bytes reach
``recv()`` through the old ZMTP fallback (``../shared/notes/zeromq-and-faults.md``). Over tcp the
handler admits 127.0.0.1 only; over ipc the sockets live in a 0700 folder of the user's and the
handler admits NULL peers that complete a proper handshake. Sockets never linger on close, and
senders never block on a dead peer (``send_nowait``): a token sent to a dead station is lost,
which is exactly what a snapshot must then find.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

ZAP_DOMAIN = b"ringemu"
LOOPBACK = "127.0.0.1"


def start_authenticator(ctx: zmq.Context, transport: str) -> ThreadAuthenticator:
    auth = ThreadAuthenticator(ctx, log=logging.getLogger("ringemu.zap"))
    auth.start()
    if transport == "tcp":
        auth.allow(LOOPBACK)
    return auth


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
