"""ZeroMQ plumbing shared by the station, monitor and client processes.

Every listening socket is bound with its role as ZAP domain (``ringemu.live.auth``), and over
tcp as a CURVE server with its process's key pair; every tcp connection is a CURVE client with
the connecting process's pair and the server's public key (``ringemu.live.keys``). Over ipc the
sockets live in the user's 0700 runtime folder and use no keys. Sockets never linger on close,
and senders never block on a dead peer (``send_nowait``): a token sent to a dead station is
lost, which is exactly what a snapshot must then find.

Connections go to loopback and ipc paths only, unless a ring spec names other addresses: a
process that reads a spec permits exactly the spec's addresses (``permit``) and no other.
"""

from __future__ import annotations

import logging
import os
import resource
from pathlib import Path

import zmq

from ringemu.live.auth import LOOPBACK, Role
from ringemu.live.keys import KeyPair

log = logging.getLogger(__name__)


FDS_PER_SOCKET = 2
"""File descriptors one ZeroMQ socket of ours may hold: its mailbox's eventfd and (for a
connected or accepting one) the connection itself; the monitor's watch sockets hold one."""
SPARE_FDS = 256
"""Room for the log files, the events file, the poller, the ZAP and io threads' own fds."""


def open_files_needed(sockets: int) -> int:
    """File descriptors a process with ``sockets`` ZeroMQ sockets should be allowed."""
    return FDS_PER_SOCKET * sockets + SPARE_FDS


def raise_open_files(needed: int) -> int:
    """Raise this process's soft limit on open files to ``needed`` if it is lower (never above
    the hard limit, which only root may raise); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def context(sockets: int) -> zmq.Context:
    """A ZeroMQ context with one io thread that may hold ``sockets`` sockets.

    libzmq refuses a context's 1024th socket by default (``ZMQ_MAX_SOCKETS``) and reports it
    as "Too many open files"; the monitor holds four per station (a 512-station ring needs
    2,048), so it sizes its context to its ring, and its open-file limit with it."""
    raise_open_files(open_files_needed(sockets))
    ctx = zmq.Context(1)
    ctx.set(zmq.MAX_SOCKETS, max(1023, sockets + 64))
    return ctx


def endpoint_for(transport: str, folder: Path, name: str) -> str:
    """Where to bind ``name``: an ipc path in ``folder``, or a random loopback tcp port."""
    if transport == "ipc":
        return f"ipc://{folder / name}"
    if transport == "tcp":
        return f"tcp://{LOOPBACK}:*"
    raise ValueError(f"unknown transport {transport!r}")


def bind(sock: zmq.Socket, endpoint: str, role: Role, pair: KeyPair | None = None) -> str:
    """Bind with ZAP on for ``role`` (and over tcp as a CURVE server with ``pair``); returns
    the concrete endpoint (the port chosen for ``tcp://...:*``)."""
    sock.zap_domain = role.domain
    sock.linger = 0
    if endpoint.startswith("tcp://"):
        if pair is None:
            raise ValueError(f"a tcp {role} socket needs the run's keys")
        pair.serve(sock)
        sock.ipv6 = endpoint.startswith("tcp://[")
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://"):]
        if os.path.exists(path):
            os.unlink(path)
    sock.bind(endpoint)
    return sock.last_endpoint.decode()


_PERMITTED: set[str] = set()
"""Addresses besides loopback this process may connect to: those of the ring spec it runs."""


def permit(addresses: set[str] | frozenset[str]) -> None:
    """Allow connections to ``addresses`` (the addresses a ring spec names), and no others."""
    _PERMITTED.update(addresses)


def tcp_host(endpoint: str) -> str:
    """The address of ``tcp://ADDRESS:PORT`` (brackets of an IPv6 address removed)."""
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_loopback(endpoint: str) -> None:
    """Refuse to talk to anything but loopback, an ipc path, or an address the ring spec this
    process runs names (a hard rule of this project)."""
    if endpoint.startswith("ipc://"):
        return
    if endpoint.startswith("tcp://127.") or endpoint.startswith("tcp://localhost:"):
        return
    if endpoint.startswith("tcp://") and tcp_host(endpoint) in _PERMITTED:
        return
    raise ValueError(f"refusing endpoint {endpoint!r}: neither loopback nor an address of "
                     "the ring spec")


def connect(sock: zmq.Socket, endpoint: str, pair: KeyPair | None = None,
            server_public: str | None = None) -> None:
    """Connect (over tcp as a CURVE client with ``pair``, trusting ``server_public``)."""
    check_loopback(endpoint)
    sock.linger = 0
    if endpoint.startswith("tcp://"):
        if pair is None or server_public is None:
            raise ValueError(f"connecting to {endpoint} needs the run's keys")
        pair.dial(sock, server_public)
        sock.ipv6 = endpoint.startswith("tcp://[")
    sock.connect(endpoint)


def send_nowait(sock: zmq.Socket, data: bytes) -> bool:
    """Queue ``data`` without ever blocking; False when the peer's queue is full (dropped)."""
    try:
        sock.send(data, zmq.NOBLOCK)
        return True
    except zmq.Again:
        return False
