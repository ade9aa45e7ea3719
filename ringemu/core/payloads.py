"""A station's payload layer: every payload delivered exactly once, and in order.

The token protocol may lose a frame (a lost or corrupted unit, a purge, a rollback, a dead
destination), so payloads are numbered and acknowledged end to end:

- each (source, destination) pair numbers its payloads 1, 2, 3...; a payload is *accepted* when
  it gets its number (``accept``) and stays queued at its source until its frame comes back
  with the C bit set (``acked``). A frame that never comes back (the purge or rollback that
  cleared the ring forgot it), or comes back uncopied, leaves its payload queued: it is sent
  again at the next capture;
- a destination delivers a pair's payloads in order and once (``receive``): a repeat is copied
  (so its source stops sending it) but not delivered again.

Each accepted and each delivered payload is reported (``PayloadSent``, ``PayloadDelivered``:
the ledger the run summary checks), and every change is also a ``JournalEntry``: a shell writes
those before it sends the frame that acknowledges them, so a station restarted from its journal
(``Payloads.restore``) resumes with its queue and its numbers, and nothing it accepted is lost.

Sans-I/O: the entries go to the station's outbox; the shell persists them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from ringemu.core.station_events import StationEvent, register


@dataclass(frozen=True, slots=True)
class PayloadSent(StationEvent):
    """Payload number ``seq`` from this station to ``dst`` was accepted. ``restored``: said
    again by a restarted station of a payload it takes over from its journal."""

    dst: int
    seq: int
    restored: bool = False
    kind: ClassVar[str] = "payload_sent"


@dataclass(frozen=True, slots=True)
class PayloadDelivered(StationEvent):
    """Payload number ``seq`` from ``src`` was delivered here (first and only time).
    ``restored``: said again by a restarted station of the last payload its journal says it
    delivered from ``src`` (its old process may have died before saying it); the run's ledger
    counts it only if it never heard of that delivery."""

    src: int
    seq: int
    restored: bool = False
    kind: ClassVar[str] = "payload_delivered"


register(PayloadSent, PayloadDelivered)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of a station's journal: ``accept`` (dst, seq, data), ``ack`` (dst, seq) or
    ``deliver`` (src, seq). ``data`` is the payload's octets, or its size when the payload is
    generated (the same octets are made again from the size)."""

    op: str
    peer: int
    seq: int
    data: bytes | int | None = None

    def to_json(self) -> list:
        d = self.data.hex() if isinstance(self.data, bytes) else self.data
        return [self.op, self.peer, self.seq, d]

    @classmethod
    def from_json(cls, row: list) -> JournalEntry:
        op, peer, seq, data = row
        if op not in ("accept", "ack", "deliver") or type(peer) is not int or type(seq) is not int:
            raise ValueError(f"not a journal entry: {row!r}")
        if isinstance(data, str):
            data = bytes.fromhex(data)
        return cls(op, peer, seq, data)


@dataclass(slots=True)
class Pending:
    """An accepted payload not yet acknowledged."""

    dst: int
    seq: int
    data: bytes | int


class Payloads:
    """See the module docstring."""

    __slots__ = ("index", "queue", "next_seq", "delivered", "out_of_order", "repeats", "outbox",
                 "count")

    def __init__(self, index: int, outbox: list) -> None:
        self.index = index
        self.queue: deque[Pending] = deque()
        self.next_seq: dict[int, int] = {}
        self.delivered: dict[int, int] = {}
        """The highest number delivered from each source."""
        self.out_of_order = 0
        self.repeats = 0
        self.count = 0
        """Payloads delivered here."""
        self.outbox = outbox

    # -- as a source ----------------------------------------------------------------------------
    def accept(self, dst: int, data: bytes | int, now: float) -> Pending:
        seq = self.next_seq.get(dst, 0) + 1
        self.next_seq[dst] = seq
        p = Pending(dst, seq, data)
        self.queue.append(p)
        self.outbox.append(JournalEntry("accept", dst, seq, data))
        self.outbox.append(PayloadSent(self.index, now, dst, seq))
        return p

    def next_for(self, members: frozenset[int] | None) -> Pending | None:
        """The oldest queued payload whose destination is in the ring (payloads for a station
        that is out of it wait for it to come back)."""
        for p in self.queue:
            if members is None or p.dst in members:
                return p
        return None

    def acked(self, dst: int, seq: int, copied: bool) -> bool:
        """Its frame came back: with the C bit the payload is done; without, it stays queued
        and goes again. Returns True when it was done now."""
        if not copied:
            return False
        for i, p in enumerate(self.queue):
            if p.dst == dst and p.seq == seq:
                del self.queue[i]
                self.outbox.append(JournalEntry("ack", dst, seq))
                return True
        return False  # an old frame acknowledged again (after a rollback): already done

    # -- as a destination -----------------------------------------------------------------------
    def receive(self, src: int, seq: int, now: float) -> bool:
        """A frame from ``src`` numbered ``seq`` arrived; deliver it if it is new. Returns True
        when the frame may be copied (the C bit set): delivered now or before."""
        last = self.delivered.get(src, 0)
        if seq <= last:
            self.repeats += 1
            return True
        if seq != last + 1:
            self.out_of_order += 1
        self.delivered[src] = seq
        self.count += 1
        self.outbox.append(JournalEntry("deliver", src, seq))
        self.outbox.append(PayloadDelivered(self.index, now, src, seq))
        return True

    # -- restart ----------------------------------------------------------------------------------
    def restore(self, entries: list[JournalEntry], now: float) -> None:
        """Rebuild the queue and the numbers from a journal (a restarted station), and
        announce again every payload it takes over and the last it delivered from each source:
        the process that accepted or delivered one may have died after journaling it and
        before its own announcement left (the run's ledger keeps each payload once)."""
        pending: dict[tuple[int, int], Pending] = {}
        for e in entries:
            if e.op == "accept":
                self.next_seq[e.peer] = max(self.next_seq.get(e.peer, 0), e.seq)
                pending[e.peer, e.seq] = Pending(e.peer, e.seq, e.data)  # type: ignore[arg-type]
            elif e.op == "ack":
                pending.pop((e.peer, e.seq), None)
            elif e.op == "deliver":
                self.delivered[e.peer] = max(self.delivered.get(e.peer, 0), e.seq)
        self.queue = deque(pending.values())
        for p in self.queue:
            self.outbox.append(PayloadSent(self.index, now, p.dst, p.seq, restored=True))
        for src, seq in sorted(self.delivered.items()):  # deliveries are in order per source
            if seq > 0:
                self.outbox.append(PayloadDelivered(self.index, now, src, seq, restored=True))

    def snapshot(self) -> tuple[tuple[int, int], ...]:
        """The queue as (destination, number) pairs, for a snapshot's record of this station."""
        queue = self.queue
        return tuple((p.dst, p.seq) for p in queue) if queue else ()
