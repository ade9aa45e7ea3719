"""Who is in the ring, in which order, in which epoch: the ring manager.

A real 802.5 ring heals in its wiring concentrator: the trunk coupling unit's relay bypasses a
station that dies, and the station's upstream neighbour then feeds its downstream one; a
station that comes back is inserted again between its neighbours. The ring manager is that
concentrator, sans-I/O, run by the snapshot monitor (live, or in the simulator):

- ``remove(k)`` (bypass), ``insert(k)`` (reinsertion), ``heal()`` (a cut link came back: the
  same members again, so nothing stuck behind the cut is counted) and ``rollback(parts)``
  each make a new
  ``Membership`` with the next *epoch* and return one ``Install`` per member: its neighbours,
  whether it is the active monitor, and for a rollback the state to take again and the messages
  to send again. Every ring message carries the epoch its sender was in; a station drops (and
  counts) any message of another epoch, so nothing from before a rebuild is ever counted as a
  token.
- The phase says when the ring may be trusted again: ``installing`` until every member has
  acknowledged the new epoch (``installed``); then ``recovering`` until the active monitor's
  purge has come back (``purge_done``) with one fresh token, or, with no active monitor left,
  until a standby has won the election (``elected``) and purged; after a rollback, until every
  station has resumed (``resumed``: it sent what was in transit again). Only a ``steady`` ring
  is snapshotted.

The 802.5 ring insertion of a station is simplified to what an emulator needs: the relay closes
(``insert``), every station learns the new epoch and its neighbours (``Install``), and the
active monitor purges, after which the new station takes part in the ring poll like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import StationState
from ringemu.errors import LocalProtocolError


class Reason(StrEnum):
    START = "start"
    BYPASS = "bypass"
    INSERT = "insert"
    ROLLBACK = "rollback"
    HEAL = "heal"


class RingPhase(StrEnum):
    STEADY = "steady"
    INSTALLING = "installing"
    RESUMING = "resuming"
    RECOVERING = "recovering"


@dataclass(frozen=True, slots=True)
class Membership:
    """The ring in one epoch: its stations in ring order and its active monitor (None while
    the standbys elect one)."""

    epoch: int
    members: tuple[int, ...]
    active_monitor: int | None
    reason: Reason

    def neighbours(self, k: int) -> tuple[int, int]:
        """(upstream, downstream) of member ``k``."""
        i = self.members.index(k)
        n = len(self.members)
        return self.members[(i - 1) % n], self.members[(i + 1) % n]

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "members": list(self.members),
                "active_monitor": self.active_monitor, "reason": self.reason.value}


@dataclass(frozen=True, slots=True)
class Install:
    """Tell ``station`` the ring of epoch ``epoch``."""

    station: int
    epoch: int
    upstream: int
    downstream: int
    members: frozenset[int]
    active_monitor: bool
    monitor_present: bool = True
    """False when the ring has no active monitor now: the standbys elect one at once."""
    restore: StationState | None = None
    """For a rollback: the state the station takes again."""
    resend: tuple = ()
    """For a rollback: the messages it sends again on its outgoing link, in order."""


@dataclass(frozen=True, slots=True)
class Resume:
    """After a rollback, every station has its state back: ``station`` sends its messages."""

    station: int
    epoch: int


@dataclass(frozen=True, slots=True)
class Purge:
    """Ask the active monitor ``station`` to purge the new ring and release one token."""

    station: int
    epoch: int


Action = Install | Resume | Purge


class RingManager:
    """See the module docstring."""

    def __init__(self, stations: int, active_monitor: int) -> None:
        if stations < 2:
            raise LocalProtocolError("a ring needs at least two stations")
        self.size = stations
        self.current = Membership(0, tuple(range(stations)), active_monitor, Reason.START)
        self.phase = RingPhase.STEADY
        self.bypassed: set[int] = set()
        self._waiting: set[int] = set()
        self._rollback = False

    @property
    def steady(self) -> bool:
        return self.phase is RingPhase.STEADY

    @property
    def members(self) -> tuple[int, ...]:
        return self.current.members

    # -- changes --------------------------------------------------------------------------------
    def remove(self, k: int) -> list[Action]:
        """Bypass station ``k`` (it died): its upstream neighbour now feeds its downstream."""
        if k not in self.current.members:
            return []
        members = tuple(m for m in self.current.members if m != k)
        self.bypassed.add(k)
        if len(members) < 2:
            self.current = replace(self.current, members=members)
            return []  # nothing left to make a ring of
        am = self.current.active_monitor
        return self._install(Membership(self.current.epoch + 1, members,
                                        None if am == k else am, Reason.BYPASS))

    def insert(self, k: int) -> list[Action]:
        """Insert station ``k`` again (restarted) at its place in ring order."""
        if k in self.current.members or not 0 <= k < self.size:
            return []
        self.bypassed.discard(k)
        members = tuple(sorted((*self.current.members, k)))
        return self._install(Membership(self.current.epoch + 1, members,
                                        self.current.active_monitor, Reason.INSERT))

    def heal(self) -> list[Action]:
        """A cut link is up again: the same members in a new epoch, so whatever the cut
        left behind (claims, a half-done purge, old snapshots) is dropped as stale, and the
        active monitor purges and releases one token."""
        m = self.current
        if len(m.members) < 2:
            return []
        return self._install(Membership(m.epoch + 1, m.members, m.active_monitor, Reason.HEAL))

    def rollback(self, parts: dict[int, LocalSnapshot]) -> list[Action]:
        """Roll the ring back to a snapshot of the current members (``parts``: each member's
        part): every station takes its recorded state again, and every message the snapshot
        recorded in transit is sent again by its sender. Returns no action when the snapshot
        is not of the current ring."""
        old = self.current
        if set(parts) != set(old.members):
            return []
        if any(p.state.epoch != old.epoch for p in parts.values()):
            return []
        new = Membership(old.epoch + 1, old.members, old.active_monitor, Reason.ROLLBACK)
        installs = self._install(new)
        out: list[Action] = []
        for inst in installs:
            assert isinstance(inst, Install)
            _, down = new.neighbours(inst.station)
            resend = tuple(parts[down].channels.get(inst.station, ()))
            out.append(replace(inst, restore=parts[inst.station].state, resend=resend))
        self._rollback = True
        return out

    def _install(self, m: Membership) -> list[Action]:
        self.current = m
        self.phase = RingPhase.INSTALLING
        self._rollback = False
        self._waiting = set(m.members)
        members = frozenset(m.members)
        present = m.active_monitor is not None
        return [Install(k, m.epoch, *m.neighbours(k), members, k == m.active_monitor, present)
                for k in m.members]

    # -- progress -------------------------------------------------------------------------------
    def installed(self, k: int, epoch: int) -> list[Action]:
        """Station ``k`` took epoch ``epoch``. When every member has, the ring goes on: the
        active monitor purges it, or (rollback) every station resumes."""
        if epoch != self.current.epoch or self.phase is not RingPhase.INSTALLING:
            return []
        self._waiting.discard(k)
        if self._waiting:
            return []
        m = self.current
        if self._rollback:
            self.phase = RingPhase.RESUMING
            self._waiting = set(m.members)
            return [Resume(s, m.epoch) for s in m.members]
        self.phase = RingPhase.RECOVERING
        if m.active_monitor is None:
            return []  # the standbys will notice and elect one, which then purges
        return [Purge(m.active_monitor, m.epoch)]

    def resumed(self, k: int, epoch: int) -> bool:
        """Station ``k`` resumed after a rollback; True when it was the last (steady now)."""
        if epoch != self.current.epoch or self.phase is not RingPhase.RESUMING:
            return False
        self._waiting.discard(k)
        if self._waiting:
            return False
        self.phase = RingPhase.STEADY
        return True

    def elected(self, k: int) -> None:
        """Station ``k`` won the claim-token election: it is the active monitor now."""
        if k in self.current.members:
            self.current = replace(self.current, active_monitor=k)

    def purge_done(self, station: int) -> bool:
        """A purge came back; True when it made a recovering ring steady."""
        if self.phase is RingPhase.RECOVERING and station == self.current.active_monitor:
            self.phase = RingPhase.STEADY
            return True
        return False
