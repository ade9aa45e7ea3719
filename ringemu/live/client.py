"""Talking to a running ring from another process: control requests and the event stream.

Used by ``ringemu inject``/``down``/``run``, the launcher and the dashboard. Each request uses a
fresh REQ socket with a timeout, so a monitor that died or hangs yields a clear error, never a
client stuck forever.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import zmq

from ringemu.errors import ConfigError, RingemuError
from ringemu.live.paths import event_from, read_events
from ringemu.live.sockets import connect


class RingUnreachable(RingemuError):
    """The ring's monitor did not answer."""


class ControlClient:
    def __init__(self, endpoint: str, ctx: zmq.Context | None = None) -> None:
        self.endpoint = endpoint
        self.ctx = ctx or zmq.Context.instance()

    def request(self, cmd: dict, timeout: float = 3.0) -> dict:
        sock = self.ctx.socket(zmq.REQ)
        try:
            connect(sock, self.endpoint)
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


class EventStream:
    """A subscription to the monitor's published events (one JSON object per message)."""

    def __init__(self, endpoint: str, ctx: zmq.Context | None = None) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.rcvhwm = 100_000
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        connect(self.sock, endpoint)

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


def follow(events_endpoint: str, events_file: str, poll: float = 0.25):
    """Every event of a ring from its start, then live: a generator of event dicts.

    A subscription only sees what is published after it joins, so this first joins, waits
    for the first live message (the subscription is then surely active), replays
    ``events.jsonl`` (every recorded event so far) and then yields live events, skipping the
    ones the file already gave. Yields None every ``poll`` seconds when nothing happens, so the
    caller can do its own periodic work.
    """
    stream = EventStream(events_endpoint)
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
