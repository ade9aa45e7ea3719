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
it leaves. ``sink`` takes a list of events and is thread-safe (it posts a message). A source
never calls the sink more than ~10 times a second: ``Batcher`` gathers events in between and
keeps only the newest ``stations`` event of a batch, since each one supersedes the last.
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

BATCH_INTERVAL = 0.1
"""Seconds between two batches handed to the UI (so at most ~10 a second)."""


class Batcher:
    """Gathers events and hands them to ``sink`` at most once per ``interval`` seconds."""

    def __init__(self, sink: Sink, interval: float = BATCH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.interval = interval
        self.clock = clock
        self.pending: list[dict | None] = []
        self._stations_at: int | None = None
        self._last = -float("inf")
        self.batches = 0
        self.dropped = 0  # superseded ``stations`` events

    def add(self, event: dict) -> None:
        if event.get("event") == "stations":
            if self._stations_at is not None:
                self.pending[self._stations_at] = None  # keep its place in order: drop the old
                self.dropped += 1
            self._stations_at = len(self.pending)
        self.pending.append(event)

    def flush(self, force: bool = False) -> bool:
        """Hand over what is pending if the interval has passed (or ``force``)."""
        if not self.pending:
            return False
        now = self.clock()
        if not force and now - self._last < self.interval:
            return False
        batch = [e for e in self.pending if e is not None]
        self.pending = []
        self._stations_at = None
        self._last = now
        self.batches += 1
        self.sink(batch)
        return True


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
        self.control = ControlClient(info.endpoints["control"])
        self._closing = threading.Event()
        self._running = threading.Event()
        self._done = threading.Event()
        self._closed = False
        self._lock = threading.Lock()

    def run(self, cancelled: Callable[[], bool]) -> None:
        self._running.set()
        stop = lambda: cancelled() or self._closing.is_set()  # noqa: E731
        batcher = Batcher(self.sink)
        # the socket lives and dies in this thread: ZeroMQ sockets are not thread-safe
        stream = EventStream(self.info.endpoints["events"])
        try:
            self._seed(batcher)
            next_poll = time.monotonic()
            while not stop():
                event = stream.get(0.05)
                if event is not None:
                    batcher.add(event)
                    for e in stream.drain():  # keep up: take everything already waiting
                        batcher.add(e)
                if self._polling and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.poll_every
                    self._poll_children(batcher)
                batcher.flush()
            batcher.flush(force=True)
        finally:
            stream.close()
            log.info("event reader stopped after %d batches (%d stations events coalesced)",
                     batcher.batches, batcher.dropped)
            self._done.set()

    def _seed(self, batcher: Batcher) -> None:
        """Ask for the ring's status once, so a late subscriber starts with alarms and states."""
        try:
            reply = self.control.request({"cmd": "status"}, timeout=2.0)
        except RingUnreachable as e:  # the event stream alone will fill the screen in
            log.warning("status request failed: %s", e)
            return
        if reply.get("ok"):
            batcher.add({**reply, "event": "status", "t": reply.get("up_s") or 0.0})
        batcher.flush(force=True)

    def _poll_children(self, batcher: Batcher) -> None:
        try:
            for station, status in self.ring.poll_children():
                log.info("station %d exited with status %s", station, status)
        except RingemuError as e:  # the monitor itself is gone
            log.error("ring failed: %s", e)
            batcher.add({"event": "error", "detail": str(e)})
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
        batcher = Batcher(self.sink)
        if self.speed <= 0:
            for i in range(0, len(events), 2000):
                if stop():
                    return
                self.sink(events[i:i + 2000])
        else:
            self._paced(events, batcher, stop)
            if stop():
                return
            batcher.flush(force=True)
        last_t = events[-1].get("t", 0.0) if events else 0.0
        self.sink([{"event": "replay_end", "t": last_t}])

    def _paced(self, events: list[dict], batcher: Batcher, stop: Callable[[], bool]) -> None:
        t0 = next((e["t"] for e in events if isinstance(e.get("t"), (int, float))), 0.0)
        start = time.monotonic()
        for e in events:
            t = e.get("t")
            due = start + ((t - t0) / self.speed if isinstance(t, (int, float)) else 0.0)
            while (wait := due - time.monotonic()) > 0:
                if stop():
                    return
                batcher.flush()
                time.sleep(min(wait, 0.05))
            batcher.add(e)
        batcher.flush(force=True)

    def send(self, cmd: dict) -> dict:
        return {"ok": False, "error": "a replay takes no commands"}

    def close(self) -> None:
        self._closing.set()
