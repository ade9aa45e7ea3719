"""Talking to a running ring from another process: control requests and the event stream.

Used by ``ringemu inject``/``down``/``run``, the launcher and the dashboard. Each request uses a
fresh REQ socket with a timeout, so a monitor that died or hangs yields a clear error, never a
client stuck forever. A tcp ring admits only the holder of its operator key: ``for_ring`` finds
it in ``keys.json`` next to the ring's ``ring.json`` (``operator_keys``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import zmq

from ringemu.errors import ConfigError, RingemuError
from ringemu.live.keys import ClientKeys, RunKeys
from ringemu.live.paths import RingInfo, event_from, read_events
from ringemu.live.sockets import connect


class RingUnreachable(RingemuError):
    """The ring's monitor did not answer."""


def operator_keys(info: RingInfo) -> ClientKeys | None:
    """The operator's keys of a tcp ring (from its runtime folder, or for a spec ring from the
    spec's key folder); None for an ipc ring."""
    if info.spec:
        from ringemu.live.sockets import permit
        from ringemu.live.spec import load_spec

        spec = load_spec(info.spec)
        permit(frozenset(spec.addresses()))
        return spec.operator_keys()
    if not any(str(e).startswith("tcp://") for e in info.endpoints.values()):
        return None
    return RunKeys.load(Path(info.runtime_dir)).for_operator()


def info_for_spec(spec) -> RingInfo:
    """A ring known only by its spec (``--spec FILE``): the monitor's endpoints, the operator
    key from the spec's key folder; it may run on another host (its launcher is not known
    here)."""
    return RingInfo(run_id=f"of {spec.path.name}", runtime_dir="",
                    run_dir=f"(on host {spec.monitor.host})", stations=len(spec.stations),
                    endpoints=spec.monitor.endpoints(), launcher={}, processes=[],
                    started=0.0, spec=str(spec.path), host=None)


def _connect(sock: zmq.Socket, endpoint: str, keys: ClientKeys | None) -> None:
    if keys is None:
        connect(sock, endpoint)
    else:
        connect(sock, endpoint, keys.own, keys.monitor)


class ControlClient:
    def __init__(self, endpoint: str, ctx: zmq.Context | None = None,
                 keys: ClientKeys | None = None) -> None:
        self.endpoint = endpoint
        self.ctx = ctx or zmq.Context.instance()
        self.keys = keys

    @classmethod
    def for_ring(cls, info: RingInfo) -> ControlClient:
        return cls(info.endpoints["control"], keys=operator_keys(info))

    def request(self, cmd: dict, timeout: float = 3.0) -> dict:
        sock = self.ctx.socket(zmq.REQ)
        try:
            _connect(sock, self.endpoint, self.keys)
            sock.send(json.dumps(cmd).encode())
            if not sock.poll(int(timeout * 1000)):
                raise RingUnreachable(f"the ring's monitor did not answer {cmd.get('cmd')!r} "
                                      f"within {timeout:g} s")
            reply = json.loads(sock.recv())
            if not isinstance(reply, dict):
                raise RingUnreachable("malformed reply from the monitor")
            return reply
        finally:
            sock.close(linger=0)

    def running(self, timeout: float = 0.5) -> bool:
        """Is the ring up (its monitor answers ``ping`` with phase ``running``)? False while
        the monitor does not answer yet, or is still bringing the ring up."""
        try:
            return self.request({"cmd": "ping"}, timeout=timeout).get("phase") == "running"
        except RingUnreachable:
            return False


class EventStream:
    """A subscription to the monitor's published events (one JSON object per message)."""

    def __init__(self, endpoint: str, ctx: zmq.Context | None = None,
                 keys: ClientKeys | None = None) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.rcvhwm = 100_000
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        _connect(self.sock, endpoint, keys)

    @classmethod
    def for_ring(cls, info: RingInfo) -> EventStream:
        return cls(info.endpoints["events"], keys=operator_keys(info))

    def get(self, timeout: float) -> dict | None:
        """The next event, or None when none arrives within ``timeout`` seconds."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return event_from(self.sock.recv())

    def drain(self) -> list[dict]:
        """Every event already waiting, without blocking."""
        out = []
        while True:
            try:
                event = event_from(self.sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                return out
            if event is not None:
                out.append(event)

    def close(self) -> None:
        self.sock.close(linger=0)


def follow(events_endpoint: str, events_file: str, poll: float = 0.25,
           keys: ClientKeys | None = None):
    """Every event of a ring from its start, then live: a generator of event dicts.

    A subscription only sees what is published after it joins, so this first joins, waits
    for the first live message (the subscription is then surely active), replays
    ``events.jsonl`` (every recorded event so far) and then yields live events, skipping the
    ones the file already gave. Yields None every ``poll`` seconds when nothing happens, so the
    caller can do its own periodic work.
    """
    stream = EventStream(events_endpoint, keys=keys)
    try:
        first = None
        deadline = time.monotonic() + 2.0
        while first is None and time.monotonic() < deadline:
            first = stream.get(0.1)
        seen: set[str] = set()
        last_t = float("-inf")
        try:
            recorded = read_events(Path(events_file))
        except ConfigError:  # no file yet: everything will come live
            recorded = []
        for event in recorded:
            seen.add(json.dumps(event, separators=(",", ":")))
            last_t = max(last_t, float(event.get("t", 0.0)))
            yield event
        pending = [first] if first is not None else []
        while True:
            for event in pending:
                if seen and float(event.get("t", 0.0)) <= last_t:
                    if json.dumps(event, separators=(",", ":")) in seen:
                        continue  # the file already gave it
                elif seen:
                    seen.clear()  # past the file's end: nothing more to skip
                yield event
            pending = stream.drain()
            if not pending:
                event = stream.get(poll)
                if event is None:
                    yield None
                else:
                    pending = [event]
    finally:
        stream.close()
