"""Who is in the ring, as the dashboard knows it: epoch, members, bypassed and restarting
stations, the active monitor, and whether the ring is steady or being rebuilt.

The ring heals itself (``ringemu.core.membership``): a dead station is bypassed, a restarted one
inserted again, a rollback rebuilds the ring, each in a new epoch, announced by a ``membership``
event; ``steady`` says the rebuilt ring has its one token again. The ``status`` reply a
dashboard asks for when it attaches carries the same facts, ``ring_phase`` included. Between a
``membership`` and its ``steady`` the ring is *rebuilding*; while ``active_monitor`` is null the
standby monitors are electing one.

Before any of these the dashboard has not been told the ring's make-up: every station is then a
member, and the active monitor is unknown until the first snapshot, which the supervisor always
starts at the active monitor (``Supervisor.ring_up``). A replay of a run that never healed has
nothing better to go on.

Pure and Textual-free, folded by ``RingState``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STEADY = "steady"
PHASES = ("steady", "installing", "resuming", "recovering")
"""The ring manager's phases (``RingPhase``); all but ``steady`` are a rebuild under way."""


def _ints(values) -> list[int]:
    if not isinstance(values, (list, tuple)):
        raise TypeError("a list of stations is expected")
    return [int(v) for v in values]


def _monitor(value) -> int | None:
    return None if value is None else int(value)


def station_list(stations) -> str:
    """``station 3`` or ``stations 3, 5``."""
    stations = sorted(stations)
    return ("station " if len(stations) == 1 else "stations ") + ", ".join(map(str, stations))


@dataclass
class RingMembership:
    """See the module docstring."""

    epoch: int = 0
    members: tuple[int, ...] | None = None
    """In ring order; None until told (every station is then a member)."""
    bypassed: set[int] = field(default_factory=set)
    restarting: set[int] = field(default_factory=set)
    """Stations being started again: from their ``restart`` until they are members again."""
    active_monitor: int | None = None
    monitor_known: bool = False
    """False until an event said who the active monitor is (or that there is none)."""
    phase: str = STEADY
    reason: str = "start"
    """Why the current epoch began: ``start``, ``bypass``, ``insert`` or ``rollback``."""
    rollback_to: int | None = None
    """The snapshot a rollback under way goes back to."""
    joined: list[int] = field(default_factory=list)
    """The stations the current epoch inserted again."""

    # -- folding --------------------------------------------------------------------------------
    def on_status(self, e: dict) -> None:
        """The ``status`` reply's ring fields (each event is read whole before anything is
        changed: a malformed one changes nothing)."""
        epoch = int(e["epoch"]) if "epoch" in e else self.epoch
        members = tuple(_ints(e["members"])) if e.get("members") is not None else self.members
        bypassed = set(_ints(e["bypassed"])) if e.get("bypassed") is not None else self.bypassed
        known = "active_monitor" in e
        am = _monitor(e.get("active_monitor")) if known else self.active_monitor
        self.epoch, self.members, self.bypassed = epoch, members, bypassed
        self.active_monitor, self.monitor_known = am, self.monitor_known or known
        if e.get("ring_phase") in PHASES:
            self.phase = e["ring_phase"]
        self._settle()

    def on_membership(self, e: dict, n: int) -> str:
        """A new epoch (``n``: stations in the run); returns the note to show."""
        epoch, members = int(e["epoch"]), tuple(_ints(e["members"]))
        bypassed = set(_ints(e.get("bypassed") or []))
        am = _monitor(e.get("active_monitor"))
        old = set(self.members if self.members is not None else range(n))
        self.epoch, self.members, self.bypassed = epoch, members, bypassed
        self.joined = sorted(set(members) - old)
        self.active_monitor, self.monitor_known = am, True
        self.reason = str(e.get("reason") or "")
        self.phase = "installing"
        self._settle()
        return f"epoch {self.epoch}: {self.change()}"

    def on_steady(self, e: dict) -> bool:
        """The ring of ``epoch`` has its one token again; False for an older epoch's."""
        epoch = int(e["epoch"])
        if epoch < self.epoch:
            return False
        self.epoch = epoch
        self.phase = STEADY
        self.rollback_to = None
        return True

    def on_elected(self, station: int) -> None:
        if self.members is None or station in self.members:
            self.active_monitor = station
            self.monitor_known = True

    def on_restart(self, station: int) -> None:
        self.restarting.add(station)

    def on_rollback(self, e: dict) -> None:
        self.rollback_to = int(e["snapshot"])
        self.phase = "installing"

    def on_ring_up(self, active_monitor: object) -> None:
        """``ring_up`` names the first active monitor (runs recorded before it did not)."""
        if not self.monitor_known:
            self.active_monitor = _monitor(active_monitor)
            self.monitor_known = True

    def on_first_snapshot(self, initiator: int) -> None:
        """Snapshot 0 began at the active monitor: the guess for a run whose ``ring_up`` did
        not name it."""
        if not self.monitor_known and self.epoch == 0:
            self.active_monitor = initiator
            self.monitor_known = True

    def _settle(self) -> None:
        if self.members is not None:
            self.restarting -= set(self.members)

    # -- reading --------------------------------------------------------------------------------
    @property
    def rebuilding(self) -> bool:
        return self.phase != STEADY

    @property
    def electing(self) -> bool:
        """The ring has no active monitor: the standbys are electing one."""
        return self.monitor_known and self.active_monitor is None

    def is_member(self, k: int) -> bool:
        return k not in self.bypassed and (self.members is None or k in self.members)

    def change(self) -> str:
        """What the current epoch changed, in a few words."""
        out = sorted(self.bypassed)
        if self.reason == "bypass":
            return f"ring rebuilt without {station_list(out)}" if out else "ring rebuilt"
        if self.reason == "insert":
            back = f"{station_list(self.joined)} inserted again" if self.joined else "inserted"
            return back + (f", {station_list(out)} still out" if out else "")
        if self.reason == "rollback":
            to = f" to snapshot {self.rollback_to}" if self.rollback_to is not None else ""
            return f"ring rolled back{to}"
        return "ring started"
