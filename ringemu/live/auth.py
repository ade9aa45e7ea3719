"""Who may connect to which socket of a ring, and counting those refused.

Every bound socket has a *role*, and its role is its ZAP domain, so one ZAP handler per process
answers for all its sockets and admits, per role, only the peers that role talks to:

========  ===========================  =========================================
role      socket                       admitted (tcp: CURVE public keys)
========  ===========================  =========================================
ring      a station's ``ring_in``      the stations, and the monitor's doorbell
cmd       a station's command socket   the monitor
report    the monitor's ``report``     the stations
control   the monitor's ``control``    the operator (the tools)
events    the monitor's ``events``     the operator
tap       a station's ``tap`` (XPUB)   the operator (``ringemu capture``)
========  ===========================  =========================================

Over ipc the 0700 runtime folder already keeps other users out (``connect`` fails with
``EACCES``), so the handler admits NULL peers of a known role; it stays installed because
without one a stranger's bytes reach ``recv()`` through the old ZMTP fallback
(``../shared/notes/zeromq-and-faults.md``).

A tcp ring on one machine also admits only peers from 127.0.0.1. A ring across hosts (a ring
spec, ``ringemu.live.spec``) admits peers from any address: there the keys alone decide, as they
must for a dashboard attached from another host with the operator key.

Most refusals never reach the ZAP handler: a peer without CURVE, with the wrong server key or
sending random bytes fails the handshake first. ``HandshakeWatch`` therefore counts, per role,
every connection that never completed its handshake, from the socket's own monitor events;
the ZAP handler's own denials (a well-formed CURVE peer whose key is not admitted) are a
subset, counted apart. Both are logged at most every few seconds, so a flood cannot fill a log.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Iterable
from enum import StrEnum

import zmq
from zmq.utils import z85

from ringemu.live.logs import Throttle

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class Role(StrEnum):
    RING = "ring"
    CMD = "cmd"
    REPORT = "report"
    CONTROL = "control"
    EVENTS = "events"
    TAP = "tap"

    @property
    def domain(self) -> bytes:
        return f"ringemu-{self.value}".encode()


_BY_DOMAIN = {r.domain: r for r in Role}


class ZapHandler:
    """A ZAP handler (RFC 27) in a plain thread, admitting per role (see the module docstring).

    ``allow`` maps each role this process binds to the Z85 public keys admitted there, and
    ``names`` names keys for the logs and for the User-Id ZeroMQ attaches to each message.
    ``anywhere``: admit admitted keys from any address, not only 127.0.0.1 (a spec ring).

    Why not ``zmq.auth.thread.ThreadAuthenticator``: in pyzmq 27 it runs an asyncio loop whose
    thread wakes with the process's socket activity, which cut a ring's hop rate several times
    over (docs/benchmarks.md). This thread sleeps in a blocking ``recv`` and costs nothing
    between handshakes (each peer is authenticated once, when it connects).
    """

    ENDPOINT = "inproc://zeromq.zap.01"

    def __init__(self, ctx: zmq.Context, transport: str,
                 allow: dict[Role, Iterable[str]] | None = None,
                 names: dict[str, str] | None = None, anywhere: bool = False) -> None:
        self.transport = transport
        self.anywhere = anywhere
        self.allow = {role: frozenset(z85.decode(k) for k in keys)
                      for role, keys in (allow or {}).items()}
        self.names = {z85.decode(k): name for k, name in (names or {}).items()}
        self.denied: dict[str, int] = {}
        self.allowed = 0
        self.throttle = Throttle(logger=log)
        self.sock = ctx.socket(zmq.REP)
        self.sock.linger = 0
        self.sock.bind(self.ENDPOINT)
        self.stop_endpoint = f"inproc://ringemu-zap-stop-{id(self)}"
        self._stop_rx = ctx.socket(zmq.PAIR)
        self._stop_rx.bind(self.stop_endpoint)
        self._stop_tx = ctx.socket(zmq.PAIR)
        self._stop_tx.connect(self.stop_endpoint)
        self.thread = threading.Thread(target=self._run, name="zap", daemon=True)
        self.thread.start()

    @property
    def denied_total(self) -> int:
        return sum(self.denied.values())

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
        version, request_id, domain, address, _identity, mechanism = frames[:6]
        role = _BY_DOMAIN.get(domain)
        user, why = self._judge(role, address, mechanism, frames[6:])
        if why is None:
            self.allowed += 1
            return [version, request_id, b"200", b"OK", user.encode(), b""]
        where = role.value if role is not None else "unknown"
        self.denied[where] = self.denied.get(where, 0) + 1
        self.throttle.warn(f"zap-{where}", "refused a %s peer from %s on the %s socket: %s",
                           mechanism.decode(errors="replace"), address.decode(errors="replace"),
                           where, why)
        return [version, request_id, b"400", why.encode(), b"", b""]

    def _judge(self, role: Role | None, address: bytes, mechanism: bytes,
               credentials: list[bytes]) -> tuple[str, str | None]:
        """(user id, None) to admit, or ("", reason) to refuse."""
        if role is None or role not in self.allow:
            return "", "no such socket here"
        if self.transport != "tcp":
            return ("", None) if mechanism == b"NULL" else ("", "ipc takes NULL peers")
        if not self.anywhere and address.decode(errors="replace") != LOOPBACK:
            return "", "not from 127.0.0.1"
        if mechanism != b"CURVE" or len(credentials) != 1:
            return "", "tcp takes CURVE peers only"
        key = credentials[0]
        if key not in self.allow[role]:
            return "", "key not admitted here"
        return self.names.get(key, ""), None

    def stop(self) -> None:
        try:
            self._stop_tx.send(b"")
        except zmq.ZMQError:
            pass
        self.thread.join(timeout=1.0)
        self._stop_tx.close(linger=0)


_ACCEPTED, _SUCCEEDED = zmq.EVENT_ACCEPTED, zmq.EVENT_HANDSHAKE_SUCCEEDED


class HandshakeWatch:
    """Counts, per role, connections to this process's bound sockets that never completed the
    handshake (see the module docstring), from each socket's monitor events.

    Read with ``refused()``, which takes the events waiting without blocking: the station calls
    it when the monitor asks for its stats, the monitor when it publishes or answers ``status``.
    A handshake in progress at that moment counts until it completes (microseconds).
    The event queue is unbounded on purpose: at its default limit a flood of connections that
    nobody reads fast enough would block ZeroMQ's I/O thread, and with it the ring.
    """

    def __init__(self, ctx: zmq.Context) -> None:
        self.ctx = ctx
        self.watched: list[tuple[zmq.Socket, zmq.Socket, Role]] = []
        self.accepted: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.throttle = Throttle(logger=log)
        self._reported: dict[str, int] = {}
        self._before: dict[str, int] = {}

    def watch(self, sock: zmq.Socket, role: Role) -> None:
        endpoint = f"inproc://ringemu-watch-{id(self)}-{role.value}-{len(self.watched)}"
        sock.monitor(endpoint, _ACCEPTED | _SUCCEEDED)
        pair = self.ctx.socket(zmq.PAIR)
        pair.rcvhwm = 0
        pair.linger = 0
        pair.connect(endpoint)
        self.watched.append((sock, pair, role))
        self.accepted.setdefault(role.value, 0)
        self.succeeded.setdefault(role.value, 0)

    def refused(self) -> dict[str, int]:
        for _, pair, role in self.watched:
            while True:
                try:
                    frames = pair.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                event = struct.unpack("=H", frames[0][:2])[0]
                counts = self.accepted if event == _ACCEPTED else self.succeeded
                counts[role.value] += 1
        out = {r: max(0, self.accepted[r] - self.succeeded[r]) for r in self.accepted}
        for r, n in out.items():
            # logged once it was there at the read before too: a handshake merely slow on a
            # loaded machine completes in between and is not called refused in the log
            n = min(n, self._before.get(r, 0))
            if n > self._reported.get(r, 0):
                self.throttle.warn(f"refused-{r}", "%d connection(s) to the %s socket "
                                   "refused in the handshake so far", n, r)
                self._reported[r] = n
        self._before = out
        return out

    def close(self) -> None:
        for sock, pair, _ in self.watched:
            try:
                sock.disable_monitor()
            except zmq.ZMQError:
                pass
            pair.close(linger=0)
        self.watched = []
