"""Where the dashboard's events come from and where its commands go: one interface, two kinds.

- ``LiveSource``: a running ring (``EventStream`` + ``ControlClient``). When the dashboard
  started the ring itself it also owns it: it calls ``poll_children`` (so station exits are
  noticed) and ``close`` stops the ring.
- ``ReplaySource``: a finished run's ``events.jsonl``, at a chosen speed or instantly;
  commands are disabled.

The tests add a third, ``tests.dashboard_canned.CannedSource``: canned events in, commands
recorded.

The app calls ``open(sink)`` on the UI thread, then ``run(cancelled)`` in a thread worker (it
may block: sockets, sleeps), ``send(cmd)`` in short-lived thread workers, and ``close()`` when
it leaves. ``sink`` takes a list of events, is thread-safe and never blocks (it is the app's
``Inbox.put``): a source hands events over as they come and leaves all coalescing to the app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ringemu.errors import ConfigError, RingemuError
from ringemu.live.client import ControlClient, EventStream, RingUnreachable
from ringemu.live.paths import RingInfo, read_events

log = logging.getLogger(__name__)

Sink = Callable[[list[dict]], None]


class Source:
    """The interface; see the module docstring."""

    label = "source"
    owns_ring = False
    """True when leaving the dashboard ends the ring (it was started for this dashboard)."""
    commands = True
    """False for a replay: keys that would act on the ring only show a notice."""

    def __init__(self) -> None:
        self.sink: Sink = lambda events: None

    def open(self, sink: Sink) -> None:
        self.sink = sink

    def run(self, cancelled: Callable[[], bool]) -> None:
        """Deliver events until there are none left or ``cancelled()``; runs in a thread."""

    def send(self, cmd: dict) -> dict:
        """Send one control request and return the reply; blocking, so call it in a worker."""
        return {"ok": False, "error": "this source takes no commands"}

    def close(self) -> None:
        """Stop delivering (and, for a source that owns its ring, end the ring)."""


class LiveSource(Source):
    """A running ring, found by ``info``; with ``ring`` the dashboard owns it."""

    def __init__(self, info: RingInfo, ring=None, poll_every: float = 0.5) -> None:
        super().__init__()
        self.info = info
        self.ring = ring
        self.owns_ring = ring is not None
        self.poll_every = poll_every
        self._polling = ring is not None
        self.label = f"ring {info.run_id} ({info.stations} stations)"
        self.control = ControlClient.for_ring(info)
        self._closing = threading.Event()
        self._running = threading.Event()
        self._done = threading.Event()
        self._closed = False
        self._lock = threading.Lock()

    def run(self, cancelled: Callable[[], bool]) -> None:
        self._running.set()
        stop = lambda: cancelled() or self._closing.is_set()  # noqa: E731
        # the socket lives and dies in this thread: ZeroMQ sockets are not thread-safe
        stream = EventStream.for_ring(self.info)
        try:
            self._seed()
            next_poll = time.monotonic()
            while not stop():
                event = stream.get(0.05)
                if event is not None:  # keep up: take everything already waiting with it
                    self.sink([event, *stream.drain()])
                if self._polling and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.poll_every
                    self._poll_children()
        finally:
            stream.close()
            log.info("event reader stopped")
            self._done.set()

    def _seed(self) -> None:
        """Ask for the ring's status once, so a late subscriber starts with alarms and states."""
        try:
            reply = self.control.request({"cmd": "status"}, timeout=2.0)
        except RingUnreachable as e:  # the event stream alone will fill the screen in
            log.warning("status request failed: %s", e)
            return
        if reply.get("ok"):
            self.sink([{**reply, "event": "status", "t": reply.get("up_s") or 0.0}])

    def _poll_children(self) -> None:
        try:
            for station, status in self.ring.poll_children():
                log.info("station %d exited with status %s", station, status)
        except RingemuError as e:  # the monitor itself is gone
            log.error("ring failed: %s", e)
            self.sink([{"event": "error", "detail": str(e)}])
            self._polling = False  # nothing left to poll; close() still stops what remains

    def send(self, cmd: dict) -> dict:
        try:
            reply = self.control.request(cmd, timeout=3.0)
        except RingUnreachable as e:
            reply = {"ok": False, "error": str(e)}
        log.info("command %s -> %s", cmd, reply)
        return reply

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._closing.set()
        if self._running.is_set():
            self._done.wait(3.0)  # the reader may be in poll_children: let it finish first
        if self.owns_ring:
            log.info("stopping the ring this dashboard started")
            self.ring.stop()


def events_file(run: Path) -> Path:
    """``run`` itself when it is a file, else ``run/events.jsonl``."""
    path = run if run.is_file() else run / "events.jsonl"
    if not path.is_file():
        raise ConfigError(f"{run}: no events.jsonl here (not a ringemu run folder)")
    return path


class ReplaySource(Source):
    """A recorded run, replayed at ``speed`` times real time (``speed <= 0``: all at once)."""

    commands = False

    def __init__(self, run: Path, speed: float = 1.0) -> None:
        super().__init__()
        self.path = events_file(Path(run))
        self.speed = speed
        pace = "instantly" if speed <= 0 else f"at {speed:g}x"
        name = self.path.parent.name if self.path.name == "events.jsonl" else self.path.name
        self.label = f"replay of {name} ({pace}; commands disabled)"
        self._closing = threading.Event()

    def run(self, cancelled: Callable[[], bool]) -> None:
        events = read_events(self.path)
        stop = lambda: cancelled() or self._closing.is_set()  # noqa: E731
        if self.speed <= 0:
            self.sink(events)
        elif not self._paced(events, stop):
            return
        last_t = events[-1].get("t", 0.0) if events else 0.0
        self.sink([{"event": "replay_end", "t": last_t}])

    def _paced(self, events: list[dict], stop: Callable[[], bool]) -> bool:
        """Hand each event over when its time comes; False when stopped before the end."""
        t0 = next((e["t"] for e in events if isinstance(e.get("t"), (int, float))), 0.0)
        start = time.monotonic()
        for e in events:
            t = e.get("t")
            due = start + ((t - t0) / self.speed if isinstance(t, (int, float)) else 0.0)
            while (wait := due - time.monotonic()) > 0:
                if stop():
                    return False
                time.sleep(min(wait, 0.05))
            self.sink([e])
        return not stop()

    def send(self, cmd: dict) -> dict:
        return {"ok": False, "error": "a replay takes no commands"}

    def close(self) -> None:
        self._closing.set()
