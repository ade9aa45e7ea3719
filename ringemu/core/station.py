"""One token-ring station as a sans-I/O state machine.

Theory of operation
-------------------
Station ``i`` receives from its upstream neighbour and sends to its downstream one: ``i-1`` and
``i+1`` (mod N) until the ring is rebuilt around a dead station (``install``). The shell
(simulator or station process) calls:

- ``on_receive(msg, now)`` for every message that arrives from upstream, and sends what it returns
  downstream, in order;
- ``on_malformed(reason, now)`` instead, for octets that failed validation (they are dropped and
  counted, never delivered to the protocol);
- ``start_snapshot(sid, now)``, ``start_purge(now)``, ``inject(kind, now)`` when told to, sending
  what they return downstream;
- ``admit(epoch, now)`` before ``on_receive`` for a message that carries its ring epoch: only
  messages of the station's current epoch are handled; older (or newer) ones are dropped and
  counted, never counted as tokens;
- ``on_timer(now)`` when ``next_timer()`` is due (hold release, the active monitor's valid
  transmission timer, a standby's no-token timer, a claim's retry);
- ``install(...)`` when the ring's membership changes (a new epoch), ``rollback(...)`` and then
  ``resume(now)`` when it is rolled back to a snapshot, ``set_timers`` when the measured
  rotation changes.

After each call the shell drains ``outbox``: finished snapshot parts (``LocalSnapshot`` of a
``StationState``) for the monitor, and ``StationEvent`` records (``ringemu.core.station_events``:
faults that fired, purges, drops).

Modes (``mode``):

================ ======================================================= ==============
mode             meaning                                                  tokens counted
================ ======================================================= ==============
``idle``         no token here                                            0
``holding``      holds the free token (``hold`` > 0 only)                 1
``awaiting``     its busy frame is out on the ring; waits to strip it     0
``purging``      active monitor purging: absorbs every token and frame    0
================ ======================================================= ==============

A busy frame *is* the captured token: while it circulates it is counted where a snapshot finds it
(on a link), never also at its source. Processing a message is atomic, so a station that captures
the token and transmits does so within one call; with ``hold`` > 0 the free token rests at the
station and a snapshot finds it there.

Frame life: a station with a payload queued captures the free token, sends ``Frame(src, dst)``,
the destination copies it (sets FS A and C) and repeats it, the frame comes back and its source
strips it, then either sends its next queued frame (while the token holding time allows) or
releases a new free token. A station awaiting its frame that receives a free token gives the
frame up (it no longer exists, or the ring holds a duplicate a snapshot will find); should it
come back after all it is stripped and replaced by the free token it was, so the number of
token units never changes on the way.

Recovery: the active monitor's ``start_purge`` sends a Ring Purge and absorbs everything it
receives until that purge comes back (it sends the same purge again each valid-transmission time
it does not: a link may lose it); every other station that sees the purge drops what it holds
and forgets a frame it was awaiting. When the purge returns the monitor releases one fresh token,
so exactly one token exists afterwards. The active monitor also sets the M bit of frames it
repeats and treats a frame seen twice as orphaned (removed, then a purge), as 802.5 does.

Standby monitors: every station but the active monitor watches for tokens, frames, purges and
the active monitor's AMP (which it sends only while the ring is silent: a passing token says
as much). Silent for its no-token time, it sends a Claim Token with its own address; a station
that sees a higher claim repeats it and stops claiming, one that sees a lower claim sends its own
instead; the station whose claim comes back wins, becomes the active monitor, purges the ring
and releases one token (the 802.5 claim-token process, simplified: ``Elected`` says who won).
An active monitor that sees a claim takes part like any station.

Suspicions (``Suspicion`` events) start a snapshot at once: the active monitor suspects a lost
token when its valid-transmission time passes without one; any station suspects a duplicate when
a second token or frame follows the one before much sooner than a rotation. A suspicion never
raises an alarm: only a snapshot's count does.

Payloads (``ringemu.core.payloads``) are numbered per (source, destination) and sent until they
come back copied, so each is delivered once and in order whatever happens to its frames.

Injected faults (``inject``, the kinds ``ringemu.faults`` lists with the station as actor):
``lose`` drops the next token or frame received; ``dup`` releases an extra free token now (or,
while holding, two tokens on release); ``corrupt`` damages the next token or frame sent so its
receiver drops it. Each reports ``FaultFired`` with the registry's effect when it takes effect.
"""

from __future__ import annotations

from typing import Any

from ringemu.core.messages import (BROADCAST, FREE_TOKEN, Amp, Claim, Frame, Garbled, Marker,
                                   Purge, Token)
from ringemu.core.payloads import Payloads
from ringemu.core.snapshot import SnapshotRecorder
from ringemu.core.state import Mode, StationState
from ringemu.core.station_events import (Absorbed, ClaimStarted, Elected, FaultFired, Malformed,
                                         Orphan, PurgeDone, PurgeStarted, Stray, Suspicion)
from ringemu.core.timers import GAP_DOWN, GAP_UP, SHORT_GAP_SHARE, StationTimers
from ringemu.core.traffic import Traffic
from ringemu.errors import LocalProtocolError
from ringemu.faults import FAULTS, STATION_FAULTS, FaultKind

IDLE, HOLDING, AWAITING, PURGING = Mode.IDLE, Mode.HOLDING, Mode.AWAITING, Mode.PURGING

_EMPTY: tuple = ()
PASS_FREE: tuple = (FREE_TOKEN,)
"""What ``on_receive`` returns, this very tuple, when the station only passes the free token
on: a shell may send the free token's octets at once when it sees it. Nothing else happened
but, perhaps, a suspicion in the outbox (a second token too soon); the simulator crosses a
stretch of such passes at once only while the outbox stays empty."""

REPEAT_SUSPICION = 8
"""While the ring stays silent, the active monitor suspects again every this many valid
transmission times."""
STALLED = 2.0
"""A standby whose no-token timer fires this many no-token times after its last token was not
running meanwhile (a timer that runs on time fires after one)."""
NO_TIMERS = StationTimers(float("inf"), float("inf"), float("inf"), 0.0)
"""Until the shell says how fast the ring turns, no station suspects or claims anything."""


class StationStats:
    """Counters a station keeps; cheap attribute increments on the hot path."""

    __slots__ = (
        "tokens",  # free tokens received
        "frames",  # busy frames received (including own, returning)
        "markers",
        "sent",  # payload frames this station transmitted (retransmissions included)
        "delivered",  # payloads delivered here (each once)
        "acked",  # own frames that came back with the C bit set
        "unacked",  # own frames that came back not copied
        "malformed",  # octets dropped because they failed validation
        "dropped",  # token units removed by an injected fault
        "absorbed",  # token units removed by a purge or a rebuild (at any station)
        "orphans",  # frames removed by the active monitor's M-bit check
        "purges",  # purges this station completed (active monitor only)
        "stale",  # messages of another ring epoch, dropped
        "claims",  # claims this station sent
        "suspicions",  # suspicions this station raised
        "gave_up",  # own frames given up on (a free token came while awaiting one)
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class Station:
    """A token-ring station; see the module docstring.

    Slotted, and the counters and flags the free-token path reads live in the station itself:
    in a live ring every hop runs in a process whose caches the other stations just flushed,
    so each extra object touched per hop costs time.
    """

    __slots__ = (
        "index", "n_stations", "upstream", "downstream", "members", "epoch",
        "is_active_monitor", "traffic", "holding_time", "hold", "recorder", "mode", "deadline",
        "outbox", "payloads", "purge_number", "timers", "claiming", "_claim_at", "_suspected_at",
        "_stats", "_tokens", "_frames", "_recording", "_countdown", "_tx", "_tx_started",
        "_lose", "_dup", "_corrupt", "_armed", "_other", "_last_seen", "_last_unit", "_gap",
        "_short_within", "_short_at",
        "_resend", "_amp_at", "_purge_at",
        "_max_pending",
    )

    def __init__(
        self,
        index: int,
        n_stations: int,
        *,
        active_monitor: bool = False,
        traffic: Traffic | None = None,
        holding_time: float = 0.010,
        hold: float = 0.0,
        max_pending_snapshots: int = 64,
    ) -> None:
        if n_stations < 2:
            raise LocalProtocolError("a ring needs at least two stations")
        if not 0 <= index < n_stations:
            raise LocalProtocolError(f"station index {index} outside ring of {n_stations}")
        self.index = index
        self.n_stations = n_stations
        self.upstream = (index - 1) % n_stations
        self.downstream = (index + 1) % n_stations
        self.members: frozenset[int] | None = None
        """The stations in the ring now (None: all of them)."""
        self.epoch = 0
        self.is_active_monitor = active_monitor
        self.traffic = traffic
        self.holding_time = holding_time
        self.hold = hold
        self._max_pending = max_pending_snapshots
        self.recorder = SnapshotRecorder(
            index, [self.upstream], [self.downstream], max_pending=max_pending_snapshots
        )
        self.mode = IDLE
        self.deadline: float | None = None
        """When a held token is released (``hold`` > 0 only)."""
        self.outbox: list[Any] = []
        self.payloads = Payloads(index, self.outbox)
        self.purge_number = 0
        self.timers = NO_TIMERS
        self.claiming = False
        self._claim_at = 0.0
        self._suspected_at = float("-inf")
        self._stats = StationStats()
        self._tokens = 0  # hot counters, folded into ``stats`` when read
        self._frames = 0
        self._recording = False  # mirrors recorder.recording, refreshed after each marker
        self._countdown = traffic.gap() if traffic is not None else -1
        self._tx: Frame | None = None
        self._tx_started = 0.0
        self._lose = 0
        self._dup = 0
        self._corrupt = 0
        self._armed = False  # any of the three above: one test on the hot path
        self._other = 0  # inputs that are not tokens, frames, markers or malformed octets
        self._last_seen = 0.0  # when the last purge or claim came, or the station (re)started
        self._last_unit = float("-inf")  # when the last token or frame came
        self._gap = 0.0  # the station's usual gap between token units (0: none seen yet)
        self._short_within = 0.0  # the too-soon window (0: off), kept here for the hot path
        self._short_at = float("-inf")  # when the last short gap ended
        self._resend: tuple = _EMPTY
        self._amp_at = float("-inf")
        self._purge_at = float("-inf")  # when the purge under way was last sent

    # -- the hot path -----------------------------------------------------------------------
    def on_receive(self, msg: Token | Frame | Marker | Purge | Claim, now: float) -> tuple:
        """Handle one message from upstream; returns the messages to send downstream, in order."""
        t = type(msg)
        if t is Token:  # the hot path: keep it short (it runs cache-cold on every hop)
            self._tokens += 1
            self._unit_gap(now)
            if self._recording:
                self.recorder.on_message(self.upstream, msg)
            if self._armed and self._lose:
                return self._drop(msg, now)
            mode = self.mode
            if mode is not IDLE:
                if mode is PURGING:
                    return self._absorb(msg, now)
                if mode is HOLDING:
                    return self._send((msg,), now)  # holding one: a second token just passes
                self._give_up(now)  # awaiting its frame, yet a token came: the frame is gone
            c = self._countdown - 1
            self._countdown = c
            if not c:  # traffic is due (never with no traffic: the countdown starts at -1)
                dst, size = self.traffic.payload()
                self.payloads.accept(dst, size, now)
                self._countdown = self.traffic.gap()
            if self.payloads.queue:
                self._tx_started = now
                out = self._transmit(now)
                if out is not None:
                    return out
            if self.hold:
                self.mode = HOLDING
                self.deadline = now + self.hold
                return _EMPTY
            if self._armed:
                return self._send((msg,), now)
            return PASS_FREE if msg is FREE_TOKEN else (msg,)
        if t is Frame:
            self._frames += 1
            self._unit_gap(now)
            if self._recording:
                self.recorder.on_message(self.upstream, msg)
            if self._armed and self._lose:
                return self._drop(msg, now)
            if self.mode is PURGING:
                return self._absorb(msg, now)
            if msg.src == self.index:
                return self._strip(msg, now)
            if self.is_active_monitor:
                if msg.monitor:
                    return self._orphan(msg, now)
                msg = msg.monitored()
            if msg.dst == self.index or msg.dst == BROADCAST:
                if self.payloads.receive(msg.src, msg.seq, now):
                    msg = msg.copied_by_destination()
            if self._armed:
                return self._send((msg,), now)
            return (msg,)
        if t is Marker:
            self._stats.markers += 1
            dests, done = self.recorder.on_marker(
                msg.snapshot_id, self.upstream, lambda: self.local_state(now))
            self._recording = self.recorder.recording
            if done is not None:
                self.outbox.append(done)
            return (msg,) if dests else _EMPTY
        self._other += 1
        if self._recording:
            self.recorder.on_message(self.upstream, msg)
        self._last_seen = now
        if t is Purge:
            return self._on_purge(msg, now)
        if t is Claim:
            return self._on_claim(msg, now)
        if t is Amp:
            return _EMPTY if msg.src == self.index else (msg,)  # its own AMP went round
        raise LocalProtocolError(f"station {self.index} cannot receive {msg!r}")

    def admit(self, epoch: int, now: float) -> bool:
        """Is a message of ring epoch ``epoch`` for this station? One of another epoch (sent
        before the ring was rebuilt or rolled back) is dropped and counted, never handled."""
        if epoch == self.epoch:
            return True
        self._stats.stale += 1
        return False

    def on_malformed(self, reason: str, now: float) -> None:
        """Octets from upstream failed validation: count them, never act on them."""
        self._stats.malformed += 1
        self.outbox.append(Malformed(self.index, now, reason))

    # -- timers -----------------------------------------------------------------------------
    def set_timers(self, timers: StationTimers, now: float | None = None) -> None:
        """The ring turns at a new pace: timers scaled to it. Given ``now``, a station told
        for the first time starts watching for silence then: until then it had no pace to expect
        the token at (in a large live ring the first timers may come long after the station
        started, and before the first token reached it). The simulator starts every station at
        virtual time 0, with the first timers, and passes no ``now``."""
        if self.timers is NO_TIMERS and now is not None:
            self._last_seen = max(self._last_seen, now)
        self.timers = timers
        self._short_within = timers.short_gaps_within

    def next_timer(self) -> float | None:
        """When ``on_timer`` next has something to do (None: nothing pending)."""
        t = self.timers
        due = self.deadline
        seen = max(self._last_seen, self._last_unit)
        if self.is_active_monitor:
            if self._suspected_at < seen:  # not yet suspected in this silence
                watch = seen + t.valid_transmission
            else:  # the next AMP, or the next suspicion
                watch = min(max(seen, self._amp_at) + t.valid_transmission,
                            self._suspected_at + REPEAT_SUSPICION * t.valid_transmission)
            if self.mode is PURGING:  # the purge is sent again if it does not come back
                watch = min(watch, self._purge_at + t.valid_transmission)
        elif self.claiming:
            watch = self._claim_at + t.claim_retry
        else:
            watch = seen + t.no_token
        if watch != float("inf"):
            due = watch if due is None else min(due, watch)
        return due

    def on_timer(self, now: float) -> tuple:
        """Do what is due: release a held token, suspect a silent ring (active monitor), claim
        the active monitor's role (standby), send a claim again."""
        self._other += 1
        out: tuple = _EMPTY
        if self.mode is HOLDING and self.deadline is not None and now >= self.deadline:
            self.mode = IDLE
            self.deadline = None
            out = self._send((FREE_TOKEN,), now)
        t = self.timers
        seen = max(self._last_seen, self._last_unit)
        silent = now - seen
        if self.is_active_monitor:
            if self.mode is PURGING and now - self._purge_at >= t.valid_transmission:
                self._purge_at = now  # the purge was lost on a link (or is very late)
                out = out + (Purge(self.index, self.purge_number),)
            if silent >= t.valid_transmission and (
                    self._suspected_at < seen
                    or now - self._suspected_at >= REPEAT_SUSPICION * t.valid_transmission):
                self._suspect(f"no token for {silent * 1000:.1f} ms", now)
            if silent >= t.valid_transmission and now - self._amp_at >= t.valid_transmission:
                self._amp_at = now  # a silent ring: tell the standbys the monitor is alive
                out = out + (Amp(self.index),)
        elif self.claiming:
            if now - self._claim_at >= t.claim_retry:
                out = out + self._claim(now)
        elif silent >= STALLED * t.no_token:
            # Its no-token timer was due long ago: this station itself was not running (its
            # process stopped or starved), so the silence it measured is its own, not the
            # ring's. It watches again from now rather than start an election that a frozen
            # and resumed ring would otherwise start at every station at once.
            self._last_seen = now
        elif silent >= t.no_token and self.mode is not PURGING:
            self.claiming = True
            self.outbox.append(ClaimStarted(self.index, now))
            out = out + self._claim(now)
        return out

    # -- commands from the shell ------------------------------------------------------------
    def issue_token(self, now: float) -> tuple:
        """Active monitor: put the ring's first free token on the ring (ring start-up)."""
        if not self.is_active_monitor:
            raise LocalProtocolError(f"station {self.index} is not the active monitor")
        self._other += 1
        self._last_seen = now
        return self._send((FREE_TOKEN,), now)

    def start_snapshot(self, sid: int, now: float) -> tuple:
        """Initiate snapshot ``sid`` here; returns the marker to send downstream."""
        self._other += 1
        dests, done = self.recorder.start(sid, self.local_state(now))
        self._recording = self.recorder.recording
        if done is not None:
            self.outbox.append(done)
        return (Marker(sid, self.index),) if dests else _EMPTY

    def start_purge(self, now: float) -> tuple:
        """Active monitor: purge the ring (no-op while a purge is already under way)."""
        if not self.is_active_monitor:
            raise LocalProtocolError(f"station {self.index} is not the active monitor")
        self._other += 1
        if self.mode is PURGING:
            return _EMPTY
        self._reset(now)
        self.mode = PURGING
        self.purge_number += 1
        self._purge_at = now
        self.outbox.append(PurgeStarted(self.index, now, self.purge_number))
        return (Purge(self.index, self.purge_number),)

    def inject(self, kind: FaultKind | str, now: float) -> tuple:
        """Arm or fire an injected fault; returns what must be sent downstream now."""
        if kind not in STATION_FAULTS:
            known = ", ".join(sorted(STATION_FAULTS))
            raise LocalProtocolError(f"a station cannot carry out {kind!r} (it does: {known})")
        self._other += 1
        if kind == FaultKind.LOSE:
            self._lose += 1
        elif kind == FaultKind.CORRUPT:
            self._corrupt += 1
        elif self.mode is HOLDING:  # dup while holding: two tokens leave on release
            self._dup += 1
        else:
            self._fired(FaultKind.DUP, now)
            return (FREE_TOKEN,)
        self._rearm()
        return _EMPTY

    def stop_traffic(self) -> None:
        """Generate no more payloads (a run draining what is still queued)."""
        self.traffic = None
        self._countdown = -1

    def send_payload(self, dst: int, payload: bytes | int, now: float = 0.0) -> None:
        """Accept a payload (bytes, or a size to fill) for ``dst``: it is numbered now and sent
        at the next capture (again until it comes back copied)."""
        if not 0 <= dst < self.n_stations or dst == self.index:
            raise LocalProtocolError(f"station {self.index} cannot send to {dst}")
        self.payloads.accept(dst, payload, now)

    def install(self, epoch: int, upstream: int, downstream: int,
                members: frozenset[int] | None, active_monitor: bool, now: float,
                monitor_present: bool = True) -> tuple:
        """The ring was rebuilt (a station bypassed or inserted): take part in epoch ``epoch``
        between ``upstream`` and ``downstream``. What the station held or awaited is gone (the
        active monitor purges next); snapshots of the old ring are abandoned. A ring rebuilt
        without an active monitor (``monitor_present`` false: it was the one that died) is
        noticed at once: the station claims the role (a token may still go round, from a fault,
        and would keep its no-token timer quiet)."""
        self._other += 1
        self.epoch = epoch
        self.upstream = upstream
        self.downstream = downstream
        self.members = members
        self.recorder = SnapshotRecorder(self.index, [upstream], [downstream],
                                         max_pending=self._max_pending)
        self._recording = False
        self._reset(now)
        self.mode = IDLE
        self.is_active_monitor = active_monitor
        self.claiming = False
        self._last_seen = now
        self._resend = _EMPTY
        if not monitor_present and not active_monitor:
            self.claiming = True
            self.outbox.append(ClaimStarted(self.index, now))
            return self._claim(now)
        return _EMPTY

    def rollback(self, epoch: int, upstream: int, downstream: int,
                 members: frozenset[int] | None, active_monitor: bool, state: StationState,
                 resend: tuple, now: float) -> tuple:
        """Roll back to a snapshot: the ring is rebuilt in epoch ``epoch`` and this station
        takes again the state ``state`` it recorded; ``resend`` are the messages that snapshot
        found in transit on this station's outgoing link, sent by ``resume``. Payloads are
        not wound back: what was delivered stays delivered and what was accepted stays queued
        (the numbers make a repeat harmless), so no payload is lost or delivered twice."""
        self.install(epoch, upstream, downstream, members, active_monitor, now)
        self.outbox[:] = [e for e in self.outbox if type(e) is not ClaimStarted]
        self.mode = state.mode if state.mode is not PURGING else IDLE
        if state.awaiting is not None:
            dst, seq = state.awaiting
            self._tx = Frame(self.index, dst, seq)
            self.mode = AWAITING
        if self.mode is HOLDING:
            self.deadline = now + self.hold
        self._resend = tuple(resend)
        return _EMPTY

    def resume(self, now: float) -> tuple:
        """After a rollback, once every station has restored its state: send the messages
        the snapshot recorded in transit on the outgoing link, in their order."""
        self._other += 1
        out, self._resend = self._resend, _EMPTY
        self._last_seen = now
        return out

    # -- state ------------------------------------------------------------------------------
    @property
    def stats(self) -> StationStats:
        """The station's counters (the hot ones are folded in on each read)."""
        s = self._stats
        s.tokens = self._tokens
        s.frames = self._frames
        s.delivered = self.payloads.count
        return s

    @property
    def passes(self) -> int:
        """Token units received, free tokens and busy frames: one a rotation (the hop count
        a live station publishes after each one)."""
        return self._tokens + self._frames

    def tokens_held(self) -> int:
        """Token units at this station that no link holds: 1 while holding the free token."""
        return 1 if self.mode is HOLDING else 0

    def step(self) -> int:
        """The station's logical clock: how many inputs (messages, octets, commands) it has
        handled. Recorded with every state and every fault that fires, so a checker can tell
        exactly which side of a cut a fault fell on, even when both happened at one instant."""
        s = self._stats
        return self._tokens + self._frames + s.markers + s.malformed + self._other

    def local_state(self, now: float) -> StationState:
        """What a snapshot records for this station."""
        tx = self._tx
        return StationState(self.mode, self.tokens_held(), self._stats.purges,
                            None if tx is None else (tx.dst, tx.seq), now, self.step(),
                            self.epoch, self.payloads.snapshot())

    @property
    def armed_faults(self) -> dict[str, int]:
        return {"lose": self._lose, "dup": self._dup, "corrupt": self._corrupt}

    # -- internals --------------------------------------------------------------------------
    def _transmit(self, now: float) -> tuple | None:
        """Send the next payload whose destination is in the ring; None when there is none."""
        p = self.payloads.next_for(self.members)
        if p is None:
            return None
        data = p.data if isinstance(p.data, bytes) else _fill(self.index, p.dst, p.seq, p.data)
        frame = Frame(self.index, p.dst, p.seq, data)
        self._tx = frame
        self.mode = AWAITING
        self._stats.sent += 1
        return self._send((frame,), now)

    def _strip(self, frame: Frame, now: float) -> tuple:
        tx = self._tx
        if (self.mode is not AWAITING or tx is None or frame.seq != tx.seq
                or frame.dst != tx.dst):
            # a frame of ours it had given up on: strip it, and release the token it was
            # (the count of token units stays what it was)
            self.outbox.append(Stray(self.index, now, frame.seq))
            self.payloads.acked(frame.dst, frame.seq, frame.copied)
            return self._send((FREE_TOKEN,), now)
        self._tx = None
        if frame.copied:
            self._stats.acked += 1
        else:
            self._stats.unacked += 1
        self.payloads.acked(frame.dst, frame.seq, frame.copied)
        if self.payloads.queue and now - self._tx_started < self.holding_time:
            out = self._transmit(now)
            if out is not None:
                return out
        self.mode = IDLE
        return self._release(now)

    def _give_up(self, now: float) -> None:
        """Stop awaiting the frame sent last: a free token came round, so that frame no
        longer exists (a fault or a purge removed it), or the ring has a duplicate, which a
        snapshot will find. Its payload stays queued, to go again; should the frame come back
        after all, ``_strip`` turns it into the token it was."""
        self._tx = None
        self.mode = IDLE
        self._stats.gave_up += 1

    def _release(self, now: float) -> tuple:
        if self.hold:
            self.mode = HOLDING
            self.deadline = now + self.hold
            return _EMPTY
        return self._send((FREE_TOKEN,), now)

    def _send(self, out: tuple, now: float) -> tuple:
        """Apply armed outgoing faults (dup, corrupt) to the token unit in ``out``."""
        if not (self._dup or self._corrupt):
            return out
        unit = out[0]
        if self._corrupt:
            self._corrupt -= 1
            self._rearm()
            self._fired(FaultKind.CORRUPT, now)
            return (Garbled(unit, "bad FCS" if type(unit) is Frame else "bad ED"),) + out[1:]
        if type(unit) is Token:
            self._dup -= 1
            self._rearm()
            self._fired(FaultKind.DUP, now)
            return (unit, FREE_TOKEN) + out[1:]
        return out

    def _rearm(self) -> None:
        self._armed = bool(self._lose or self._dup or self._corrupt)

    def _drop(self, msg: Token | Frame, now: float) -> tuple:
        self._lose -= 1
        self._rearm()
        self._stats.dropped += 1
        self._fired(FaultKind.LOSE, now)
        return _EMPTY

    def _absorb(self, msg: Token | Frame, now: float) -> tuple:
        self._stats.absorbed += 1
        self.outbox.append(Absorbed(self.index, now, _what(msg)))
        return _EMPTY

    def _orphan(self, frame: Frame, now: float) -> tuple:
        self._stats.orphans += 1
        self.outbox.append(Orphan(self.index, now, frame.src, frame.seq))
        return self.start_purge(now)

    def _on_purge(self, purge: Purge, now: float) -> tuple:
        if purge.origin == self.index:
            if self.mode is PURGING and purge.number == self.purge_number:
                self.mode = IDLE
                self._stats.purges += 1
                self.outbox.append(PurgeDone(self.index, now, purge.number))
                return self._send((FREE_TOKEN,), now)
            return _EMPTY  # a stale purge of ours: it has done its work
        if self.is_active_monitor:  # another active monitor purges: there can be only one
            self._resign()
        self.claiming = False
        self._reset(now)
        return (purge,)

    def _on_claim(self, claim: Claim, now: float) -> tuple:
        if claim.src == self.index:
            if not self.claiming:
                return _EMPTY  # an old claim of ours, from before we deferred
            self.claiming = False
            self.is_active_monitor = True
            self.outbox.append(Elected(self.index, now))
            return self.start_purge(now)
        if self.is_active_monitor:  # someone thinks no monitor is left: take part like all
            self._resign()
        if claim.src > self.index:
            self.claiming = False  # a higher address: it wins, pass its claim on
            return (claim,)
        if self.claiming:
            return _EMPTY  # a lower claim: ours is already out
        self.claiming = True
        self.outbox.append(ClaimStarted(self.index, now))
        return self._claim(now)

    def _resign(self) -> None:
        """Stop being the active monitor; a purge of ours still going round is abandoned (it
        would otherwise keep absorbing every token, the new monitor's too)."""
        self.is_active_monitor = False
        if self.mode is PURGING:
            self.mode = IDLE

    def _claim(self, now: float) -> tuple:
        self._claim_at = now
        self._stats.claims += 1
        return (Claim(self.index),)

    def _unit_gap(self, now: float) -> None:
        """A token unit came: follow the station's usual gap (a tracked low quantile, see
        ``core/timers.py``) and notice a short one."""
        gap, usual = now - self._last_unit, self._gap
        if gap < usual:
            self._gap = usual * GAP_DOWN
            if gap < SHORT_GAP_SHARE * usual:
                self._short_gap(now, gap)
        else:
            self._gap = usual * GAP_UP if usual else (gap if gap < 1e9 else 0.0)
        self._last_unit = now

    def _short_gap(self, now: float, gap: float) -> None:
        """A token unit came too soon after the one before: suspect a duplicate if another did
        within ``short_gaps_within`` (a duplicate makes such a gap every rotation)."""
        if now - self._short_at < self._short_within:
            self._suspect(f"a token unit {gap * 1e6:.0f} us after the one before, under "
                          f"{SHORT_GAP_SHARE:.0%} of the usual gap, twice", now)
        self._short_at = now

    def _suspect(self, reason: str, now: float) -> None:
        if now - self._suspected_at < self.timers.valid_transmission:
            return  # one suspicion per valid-transmission time is enough
        self._suspected_at = now
        self._stats.suspicions += 1
        self.outbox.append(Suspicion(self.index, now, reason))

    def _reset(self, now: float) -> None:
        """Forget any token held and any frame awaited (a purge is clearing the ring); an
        awaited payload stays queued, to go again."""
        if self.mode is HOLDING:
            self._stats.absorbed += 1
            self.outbox.append(Absorbed(self.index, now, "token"))
        self._tx = None
        self.deadline = None
        if self.mode is not PURGING:
            self.mode = IDLE

    def _fired(self, kind: FaultKind, now: float) -> None:
        effect = FAULTS[kind].effect
        assert effect is not None
        self.outbox.append(FaultFired(self.index, now, kind.value, effect, self.step()))


def _what(msg: Token | Frame) -> str:
    return "token" if type(msg) is Token else f"frame {msg.src}->{msg.dst}"


def _fill(src: int, dst: int, seq: int, size: int) -> bytes:
    """A recognisable payload of ``size`` octets (readable in a capture)."""
    head = b"ringemu %d->%d #%d " % (src, dst, seq)
    if size <= len(head):
        return head[:size]
    return head + b"." * (size - len(head))
