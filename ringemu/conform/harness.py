"""A tick-based replay of the peer's (COS 418) Chandy-Lamport simulator around our own recorder.

Why it exists: the peer's expected snapshots are a strong, independent check of
``ringemu.core.snapshot.SnapshotRecorder``, but only if every timing detail of their simulator is
reproduced, because the recorded cut depends on which message arrives first. So this module
models *their* network (not our token ring) and leaves all Chandy-Lamport decisions to one
``SnapshotRecorder`` per server. The rules (``SOURCE.md`` next to the vectors):

- Time starts at 0; a tick adds 1, then runs one delivery pass for the new time.
- A message (token or marker) queued at time t gets receive time ``t + 1 + r``, where r is the
  next value of the delay stream: exactly one value per queued message, drawn when queued.
- Delivery pass: servers as senders in byte-wise id order; for each, its channels by ascending
  destination; deliver the head of the first channel whose head is due, then go to the next
  sender. So at most one delivery per sender per tick, and FIFO head-of-line blocking.
- ``snapshot X`` records X's balance and queues markers on all of X's outgoing channels in
  ascending destination order; receivers do what the recorder says.
- After the script, tick until every started snapshot is finished, then 6 more ticks (the peer's
  ``maxDelay + 1``).

A snapshot's in-transit messages are listed in the order they were delivered, which keeps each
channel FIFO and each destination in its receive order (what the peer's comparison checks).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ringemu.conform.formats import (
    Event,
    Message,
    Send,
    Snapshot,
    StartSnapshot,
    Tick,
    Topology,
    byte_order,
)
from ringemu.core.snapshot import LocalSnapshot, SnapshotRecorder
from ringemu.errors import ConfigError

SETTLE_TICKS = 6
"""Ticks run after the last snapshot finishes, as the peer's driver does (maxDelay + 1)."""


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A message on a channel: a token (``tokens`` set) or a marker (``marker`` = snapshot id)."""

    receive_time: int
    tokens: int | None = None
    marker: int | None = None

    def __str__(self) -> str:
        return f"token({self.tokens})" if self.marker is None else f"marker({self.marker})"


@dataclass(frozen=True, slots=True)
class _Delivered:
    """What we hand the recorder for a token: ``seq`` (global delivery order) keeps the
    interleaving of different channels, which the recorder's per-channel lists drop."""

    seq: int
    tokens: int


class Harness:
    """One run of an event script on a topology. Use ``run()``; state stays readable after.

    ``trace``, if given, receives one line per enqueue and delivery in the format of the worked
    trace in ``SOURCE.md`` (``t=4 deliver N1->N2 token(3)``), for debugging a mismatch.
    """

    def __init__(
        self,
        topology: Topology,
        events: Sequence[Event],
        delays: Iterable[int],
        *,
        delays_source: str = "the delay stream",
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.topology = topology
        self.events = list(events)
        self.now = 0
        self.balance: dict[str, int] = dict(topology.servers)
        self._delays = iter(delays)
        self._delays_source = delays_source
        self.draws = 0
        self._trace = trace
        self._senders = sorted(topology.servers, key=byte_order)
        self._out = {s: topology.outgoing(s) for s in self._senders}
        self.channels: dict[tuple[str, str], deque[_InFlight]] = {
            c: deque() for c in topology.channels
        }
        n_snapshots = sum(isinstance(e, StartSnapshot) for e in self.events)
        # Never let the recorder drop a pending snapshot: this harness needs every one.
        self.recorders = {
            s: SnapshotRecorder(
                s, topology.incoming(s), self._out[s],
                max_pending=n_snapshots + 1, remember_done=max(4096, n_snapshots + 1),
            )
            for s in self._senders
        }
        self._parts: dict[int, dict[str, LocalSnapshot]] = {}
        self._started: dict[int, StartSnapshot] = {}
        self._seq = 0

    # -- public ----------------------------------------------------------------------------
    def run(self) -> list[Snapshot]:
        """Play the script, finish every snapshot, settle, and return snapshots in id order."""
        for event in self.events:
            if isinstance(event, Send):
                self._send(event)
            elif isinstance(event, StartSnapshot):
                self._start(event)
            elif isinstance(event, Tick):
                for _ in range(event.count):
                    self.tick()
            else:  # pragma: no cover - the parser only makes the three kinds
                raise TypeError(f"not an event: {event!r}")
        while self.unfinished():
            if not any(self.channels.values()):
                self._stuck()
            self.tick()
        for _ in range(SETTLE_TICKS):
            self.tick()
        return self.snapshots()

    def tick(self) -> None:
        """Advance time by one and deliver at most one due message per sender."""
        self.now += 1
        for src in self._senders:
            for dst in self._out[src]:
                queue = self.channels[src, dst]
                if queue and queue[0].receive_time <= self.now:
                    self._deliver(src, dst, queue.popleft())
                    break

    def unfinished(self) -> list[int]:
        """Ids of started snapshots that some server has not finished yet."""
        n = len(self.topology.servers)
        return [sid for sid in self._started if len(self._parts[sid]) < n]

    def in_flight_tokens(self) -> int:
        return sum(m.tokens for q in self.channels.values() for m in q if m.marker is None)

    def snapshots(self) -> list[Snapshot]:
        """The finished snapshots, in id order."""
        done = []
        for sid in sorted(self._started):
            parts = self._parts[sid]
            if len(parts) < len(self.topology.servers):
                continue
            recorded = []
            for dst, part in parts.items():
                for src, records in part.channels.items():
                    recorded += [(r.seq, Message(src, dst, r.tokens)) for r in records]
            recorded.sort(key=lambda pair: pair[0])
            tokens = {s: parts[s].state for s in self._senders}
            done.append(Snapshot(sid, tokens, [m for _, m in recorded]))
        return done

    # -- script actions --------------------------------------------------------------------
    def _send(self, event: Send) -> None:
        where = f"{event.where}: " if event.where else ""
        if (event.src, event.dst) not in self.channels:
            raise ConfigError(f"{where}no channel {event.src} -> {event.dst}")
        have = self.balance[event.src]
        if have < event.tokens:
            raise ConfigError(
                f"{where}{event.src} has {have} token(s) at t={self.now}, cannot send "
                f"{event.tokens}"
            )
        self.balance[event.src] = have - event.tokens
        self._enqueue(event.src, event.dst, tokens=event.tokens)

    def _start(self, event: StartSnapshot) -> None:
        if event.server not in self.recorders:
            where = f"{event.where}: " if event.where else ""
            raise ConfigError(f"{where}unknown server {event.server!r}")
        sid = len(self._started)
        self._started[sid] = event
        self._parts[sid] = {}
        markers, finished = self.recorders[event.server].start(sid, self.balance[event.server])
        self._after_record(sid, event.server, markers, finished)

    # -- network ---------------------------------------------------------------------------
    def _enqueue(self, src: str, dst: str, *, tokens: int | None = None,
                 marker: int | None = None) -> None:
        try:
            r = next(self._delays)
        except StopIteration:
            raise ConfigError(
                f"{self._delays_source}: ran out of delay values: message #{self.draws + 1} "
                f"({src} -> {dst} at t={self.now}) needs one, the stream has {self.draws}"
            ) from None
        message = _InFlight(self.now + 1 + r, tokens, marker)
        if self._trace:
            self._trace(f"t={self.now} enqueue {src}->{dst} {message} draw#{self.draws}={r} "
                        f"recvTime={message.receive_time}")
        self.draws += 1
        self.channels[src, dst].append(message)

    def _deliver(self, src: str, dst: str, message: _InFlight) -> None:
        if self._trace:
            self._trace(f"t={self.now} deliver {src}->{dst} {message}")
        recorder = self.recorders[dst]
        if message.marker is None:
            self._seq += 1
            recorder.on_message(src, _Delivered(self._seq, message.tokens))
            self.balance[dst] += message.tokens
            return
        sid = message.marker
        markers, finished = recorder.on_marker(sid, src, lambda: self.balance[dst])
        self._after_record(sid, dst, markers, finished)

    def _after_record(self, sid: int, server: str, markers: tuple,
                      finished: LocalSnapshot | None) -> None:
        for dst in markers:
            self._enqueue(server, dst, marker=sid)
        if finished is not None:
            self._parts[sid][server] = finished

    def _stuck(self) -> None:
        """Nothing is in flight but a snapshot is unfinished: the topology cannot complete it."""
        sid = self.unfinished()[0]
        event = self._started[sid]
        missing = [s for s in self._senders if s not in self._parts[sid]]
        where = f"{event.where}: " if event.where else ""
        raise ConfigError(
            f"{where}snapshot {sid} (started at {event.server}) can never finish: "
            f"{', '.join(missing)} never close(s) all incoming channels "
            f"(is every server reachable from {event.server} by directed channels?)"
        )


def run_script(
    topology: Topology,
    events: Sequence[Event],
    delays: Iterable[int],
    *,
    delays_source: str = "the delay stream",
) -> list[Snapshot]:
    """Run ``events`` on ``topology`` with ``delays`` and return the snapshots, in id order."""
    return Harness(topology, events, delays, delays_source=delays_source).run()
