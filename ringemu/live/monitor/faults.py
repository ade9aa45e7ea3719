"""Carrying out injected faults in a live ring, as the fault registry says.

A fault the core station carries out (``Actor.STATION``) becomes an ``inject`` command to that
station, and so does a partition (``Actor.LINK``: ``cut``, ``heal``), which the station's link
layer carries out and reports (the supervisor acts on that report); a process fault is the
shell's: ``kill`` is SIGKILL, ``pause`` is SIGSTOP now and SIGCONT after its length. Either way
the run history records the injection, and for a process fault also its taking effect, at once.
"""

from __future__ import annotations

import random
import signal
from typing import TYPE_CHECKING

from ringemu.errors import ConfigError
from ringemu.faults import FAULTS, Actor, FaultKind, Shell, check_arg, parse_kind
from ringemu.live import protocol as p
from ringemu.live.monitor.stations import ProcState

if TYPE_CHECKING:
    from ringemu.live.monitor.process import MonitorProcess


class LiveFaults:
    def __init__(self, monitor: MonitorProcess, seed: int) -> None:
        self.m = monitor
        self.rng = random.Random(f"ringemu-monitor/{seed}")
        self.resumes: dict[int, float] = {}
        """Paused stations and when to continue them."""
        self.planned: list[p.InjectRequest] = []
        """Scheduled faults not yet injected, latest first (``at``: seconds after ring up)."""
        self.cut: set[int] = set()
        """Stations whose outgoing link was cut (and not healed since). The supervisor hears
        of a cut or heal when the station reports it took effect."""

    def plan(self, faults: list[p.InjectRequest]) -> None:
        """Inject these at their times, from the monitor's own loop."""
        self.planned = sorted(self.planned + faults, key=lambda f: f.at, reverse=True)

    def next_planned(self) -> float:
        up = self.m.history.up_at
        if not self.planned or up is None:
            return float("inf")
        return up + self.planned[-1].at

    def fire_planned(self, now: float) -> None:
        while self.planned and now >= self.next_planned():
            f = self.planned.pop()
            answer = self.inject(f.kind, f.station, f.arg, f.at, f.active_monitor)
            if not answer.get("ok"):
                where = "am" if f.active_monitor else f.station
                spec = f"{f.kind}@{f.at:g}" + ("" if where is None else f":{where}")
                self.m.history.inject_refused(now, spec, answer.get("error"))

    def inject(self, kind_text: str, station: int | None, arg: float | None = None,
               at: float | None = None, active_monitor: bool = False) -> dict:
        """Inject a fault now; ``at`` is the scripted time to record for it (default: none);
        ``active_monitor``: into the station that is the active monitor now."""
        m = self.m
        try:
            kind = parse_kind(kind_text, Shell.LIVE)
            arg = check_arg(kind, arg)
        except ConfigError as e:
            return p.reply(False, str(e))
        if not m.running_ring():
            return p.reply(False, "ring is not up yet")
        if active_monitor:
            if station is not None:
                return p.reply(False, "name a station or the active monitor, not both")
            station = m.supervisor.ring.current.active_monitor
            if station is None:
                return p.reply(False, "the ring has no active monitor now (an election is on)")
        elif station is None:
            alive = [s.index for s in m.stations.in_state(ProcState.ALIVE)]
            if not alive:
                return p.reply(False, "no live station to inject into")
            station = self.rng.choice(alive)
        st = m.stations.get(station)
        if st is None:
            return p.reply(False, f"no station {station} (stations are 0..{len(m.stations) - 1})")
        if st.state not in (ProcState.ALIVE, ProcState.PAUSED):
            return p.reply(False, f"station {station} is {st.state}")
        now = m.now()
        if FAULTS[kind].actor is Actor.PROCESS and m.remote(st):
            return p.reply(False, f"station {station} was started by another host's launcher; "
                                  f"{kind.value} acts only on processes this host started")
        if FAULTS[kind].actor is Actor.LINK:
            cut = station in self.cut
            if cut == (kind == FaultKind.CUT):
                return p.reply(False, f"link {station} is {'already' if cut else 'not'} cut")
            if not cut and station not in m.supervisor.ring.members:
                return p.reply(False, f"station {station} is not in the ring now")
            if not m.command(st, p.Inject(kind.value)):
                return p.reply(False, f"station {station} is not accepting commands")
            record = m.history.inject(now, kind, station, arg, at)
            (self.cut.add if kind == FaultKind.CUT else self.cut.discard)(station)
        elif FAULTS[kind].actor is Actor.STATION:  # a paused one finds it when it goes on
            if not m.command(st, p.Inject(kind.value)):
                return p.reply(False, f"station {station} is not accepting commands")
            record = m.history.inject(now, kind, station, arg, at)
        elif kind == FaultKind.KILL:
            if not m.signal(st, signal.SIGKILL):
                return p.reply(False, f"station {station} is not running")
            self.resumes.pop(station, None)
            record = m.history.inject(now, kind, station, arg, at)
            m.history.process_fault_fired(record, now)
            m.station_dead(st)
        elif st.state is ProcState.PAUSED:  # paused again: the pause lasts longer
            self.resumes[station] = max(self.resumes.get(station, now), now + (arg or 1.0))
            record = m.history.inject(now, kind, station, arg, at)
            m.history.process_fault_fired(record, now)
        else:
            if not m.signal(st, signal.SIGSTOP):
                return p.reply(False, f"station {station} is not running")
            st.state = ProcState.PAUSED
            self.resumes[station] = now + (arg or 1.0)
            record = m.history.inject(now, kind, station, arg, at)
            m.history.process_fault_fired(record, now)
            m.carry_out(m.supervisor.station_down(station, now, dead=False))
        return p.reply(fault_id=record.fault_id, kind=kind.value, station=station)

    def next_resume(self) -> float:
        return min(self.resumes.values(), default=float("inf"))

    def resume_due(self, now: float) -> None:
        for index in [i for i, at in self.resumes.items() if now >= at]:
            del self.resumes[index]
            st = self.m.stations[index]
            if st.state is ProcState.PAUSED and self.m.signal(st, signal.SIGCONT):
                st.state = ProcState.ALIVE
                self.m.history.resumed(now, index)
                self.m.carry_out(self.m.supervisor.station_up(index, now))
