"""Chandy-Lamport snapshot recording for one node of any directed topology.

Theory of operation
-------------------
Each node owns one ``SnapshotRecorder``. It knows the node's incoming channels (named by the
sending node) and outgoing channels (named by the receiving node). Channels must be FIFO; in
ringemu markers travel on the very link tokens use, so they are.

- ``start(sid, state)``: this node initiates snapshot ``sid``. It records ``state`` and starts
  recording *every* incoming channel. The caller must then send a marker on every channel
  returned, in the order returned (ascending destination).
- ``on_marker(sid, sender, state)``: a marker of ``sid`` arrived from ``sender``.
  On the first marker of ``sid`` the node records its state (``state`` may be a callable, so the
  caller pays for building it only then), records channel ``sender`` as empty, starts recording
  all its other incoming channels and must send markers on every outgoing channel, including the
  one back to ``sender``. A later marker of ``sid`` closes the recording of channel ``sender``.
- ``on_message(sender, msg)``: a non-marker message arrived. It is appended to the record of
  channel ``sender`` for every snapshot that has recorded its state and still has that channel
  open. Call it *before* acting on the message.

When all incoming channels of ``sid`` are closed, the node's part is finished and a
``LocalSnapshot`` is returned (from ``start`` or ``on_marker``). Several snapshots may run at
once; they are independent and keyed by ``sid``.

This class is the one the station processes run, the one the simulator runs and the one the
peer-conformance harness (``ringemu.conform``) drives against the COS 418 vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

from ringemu.errors import LocalProtocolError, RemoteProtocolError

NodeId = Hashable


@dataclass(slots=True)
class LocalSnapshot:
    """One node's part of a finished snapshot: its state and what each incoming channel held."""

    snapshot_id: int
    node: NodeId
    state: Any
    channels: dict[NodeId, list] = field(default_factory=dict)


class _Progress:
    """A snapshot this node has recorded its state for and whose channels are not all closed."""

    __slots__ = ("local", "open")

    def __init__(self, local: LocalSnapshot, open_channels: set) -> None:
        self.local = local
        self.open = open_channels


class SnapshotRecorder:
    """Chandy-Lamport state for one node; see the module docstring for the protocol."""

    __slots__ = ("node", "incoming", "outgoing", "max_pending", "remember_done", "_progress",
                 "_open", "_done", "recording")

    def __init__(
        self,
        node: NodeId,
        incoming: Iterable[NodeId],
        outgoing: Iterable[NodeId],
        *,
        max_pending: int = 64,
        remember_done: int = 4096,
    ) -> None:
        self.node = node
        self.incoming: tuple = tuple(dict.fromkeys(s for s in incoming if s != node))
        self.outgoing: tuple = tuple(sorted({d for d in outgoing if d != node}))
        self.max_pending = max_pending
        self._progress: dict[int, _Progress] = {}
        # sender -> the record lists currently open on that channel (one per snapshot)
        self._open: dict[NodeId, list[list]] = {s: [] for s in self.incoming}
        self.remember_done = remember_done
        self._done: dict[int, None] = {}  # an insertion-ordered set of finished snapshot ids
        self.recording = False
        """True while any channel is being recorded: a cheap test for the hot path."""

    # -- queries ---------------------------------------------------------------------------
    def pending(self) -> list[int]:
        """Snapshot ids whose state is recorded but whose channels are not all closed yet."""
        return list(self._progress)

    def has_recorded(self, sid: int) -> bool:
        return sid in self._progress or sid in self._done

    # -- protocol --------------------------------------------------------------------------
    def start(self, sid: int, state: Any) -> tuple[tuple, LocalSnapshot | None]:
        """Initiate ``sid`` here. Returns (channels to send markers on, finished part or None)."""
        if self.has_recorded(sid):
            raise LocalProtocolError(f"node {self.node!r} already took part in snapshot {sid}")
        finished = self._record(sid, state, closed=None)
        return self.outgoing, finished

    def on_marker(
        self, sid: int, sender: NodeId, state: Any | Callable[[], Any]
    ) -> tuple[tuple, LocalSnapshot | None]:
        """Handle a marker of ``sid`` from ``sender``.

        Returns (channels to send markers on, finished part or None). Markers of a snapshot this
        node already finished are ignored.
        """
        if sender not in self._open:
            raise RemoteProtocolError(f"node {self.node!r} has no channel from {sender!r}")
        progress = self._progress.get(sid)
        if progress is None:
            if sid in self._done:
                return (), None
            value = state() if callable(state) else state
            return self.outgoing, self._record(sid, value, closed=sender)
        if sender in progress.open:
            progress.open.discard(sender)
            lists = self._open[sender]
            record = progress.local.channels[sender]
            for i, lst in enumerate(lists):
                if lst is record:
                    del lists[i]
                    break
            finished = self._finish(sid) if not progress.open else None
            self._refresh_recording()
            return (), finished
        return (), None

    def on_message(self, sender: NodeId, msg: Any) -> None:
        """Record ``msg`` on channel ``sender`` for every snapshot still recording it."""
        lists = self._open.get(sender)
        if lists:
            for lst in lists:
                lst.append(msg)

    def abandon(self, sid: int) -> LocalSnapshot | None:
        """Stop recording ``sid`` (it will never finish); returns what was recorded so far."""
        progress = self._progress.pop(sid, None)
        if progress is None:
            return None
        for sender in progress.open:
            record = progress.local.channels[sender]
            lists = self._open[sender]
            self._open[sender] = [lst for lst in lists if lst is not record]
        self._remember(sid)
        self._refresh_recording()
        return progress.local

    # -- internals -------------------------------------------------------------------------
    def _record(self, sid: int, state: Any, closed: NodeId | None) -> LocalSnapshot | None:
        incoming = self.incoming
        if len(incoming) == 1 and incoming[0] == closed:
            # a ring station's every snapshot: its only channel is closed by this marker
            self._remember(sid)
            return LocalSnapshot(sid, self.node, state, {closed: []})
        local = LocalSnapshot(sid, self.node, state, {s: [] for s in incoming})
        open_channels = {s for s in incoming if s != closed}
        if not open_channels:
            self._remember(sid)
            return local
        while len(self._progress) >= self.max_pending:
            self.abandon(next(iter(self._progress)))
        self._progress[sid] = _Progress(local, open_channels)
        for s in open_channels:
            self._open[s].append(local.channels[s])
        self.recording = True
        return None

    def _finish(self, sid: int) -> LocalSnapshot:
        progress = self._progress.pop(sid)
        self._remember(sid)
        return progress.local

    def _remember(self, sid: int) -> None:
        done = self._done
        done[sid] = None
        if len(done) > self.remember_done:
            del done[next(iter(done))]

    def _refresh_recording(self) -> None:
        self.recording = bool(self._progress)
