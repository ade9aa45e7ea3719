"""What the monitor knows of each station process: its state, its command socket, its stats.

The monitor's view of a station is the process (alive, paused, dead, exited), not the protocol
(that is the station's own business, reported in ``Stats``). The table answers the questions the
rest of the monitor asks: who is down, how many tokens have passed, what to publish.

Which process a station *is* comes from the launcher's record in ``ring.json`` (``Launched``),
never from a message: the pid a station's hello carries is only compared with it.
"""

from __future__ import annotations

import logging
from collections import deque
from enum import StrEnum
from pathlib import Path
from typing import Iterable

import zmq

from ringemu.errors import ConfigError
from ringemu.live.paths import RingInfo, proc_state, same_process
from ringemu.live.protocol import Stats

log = logging.getLogger(__name__)


class ProcState(StrEnum):
    STARTING = "starting"
    ALIVE = "alive"
    PAUSED = "paused"
    DEAD = "dead"
    EXITED = "exited"


DOWN = (ProcState.DEAD, ProcState.PAUSED, ProcState.EXITED)


def process_down(pid: int, start_time: int | None) -> bool:
    """Is this process gone, a zombie, or stopped (SIGSTOP, a debugger)?"""
    if not same_process(pid, start_time):
        return True
    return proc_state(pid) in (None, "Z", "X", "T", "t")


class ClockOffset:
    """How far a station's ``CLOCK_MONOTONIC`` is from the monitor's (``offset`` = monitor's
    minus station's), so its cut times and events land on the monitor's clock.

    Processes on one machine share the clock: ``same`` stations keep 0. For a station on
    another host the hello gives a first estimate (off by the one-way latency), then each
    stats exchange gives one more the NTP way, the midpoint of the request and its answer
    against the station's time; the exchange with the shortest round trip wins, and it is
    retired after a minute, so a slowly drifting clock is followed.
    """

    __slots__ = ("same", "offset", "rtt", "at", "_asked")

    KEEP = 60.0

    def __init__(self, same: bool = True) -> None:
        self.same = same
        self.offset = 0.0
        self.rtt = float("inf")
        self.at = 0.0
        self._asked: deque[float] = deque(maxlen=16)
        """When each stats request still unanswered left (a station answers in order)."""

    def hello(self, now: float, station_t: float) -> None:
        if not self.same and self.rtt == float("inf"):
            self.offset = now - station_t

    def asked(self, now: float) -> None:
        if not self.same:
            self._asked.append(now)

    def answered(self, now: float, station_t: float) -> None:
        """Stats came (``now`` on the monitor's clock, ``station_t`` on the station's)."""
        if self.same or not self._asked:
            return
        asked = self._asked.popleft()
        if now < asked:
            return
        rtt = now - asked
        if rtt <= self.rtt or now - self.at > self.KEEP:
            self.offset = (asked + now) / 2 - station_t
            self.rtt, self.at = rtt, now


class StationRecord:
    """One station process as the monitor sees it."""

    __slots__ = ("index", "pid", "start_time", "endpoint", "cmd_endpoint", "cmd", "bell",
                 "state", "stats", "stats_at", "carried", "units_at", "unit_rate",
                 "tap_endpoint", "tapping", "clock")

    def __init__(self, index: int) -> None:
        self.index = index
        self.pid: int | None = None
        """The launcher's record of this station's process (with ``start_time``)."""
        self.start_time: int | None = None
        self.endpoint: str | None = None
        self.cmd_endpoint: str | None = None
        self.cmd: zmq.Socket | None = None
        """PUSH to the station's command socket."""
        self.bell: zmq.Socket | None = None
        """PUSH into the station's ring link, for the doorbell only."""
        self.state = ProcState.STARTING
        self.stats: Stats | None = None
        self.stats_at = 0.0
        self.carried: dict[str, int] = {}
        """Counters of the station's earlier processes (a restarted one counts from zero)."""
        self.units_at: tuple[float, int] | None = None
        self.unit_rate: float | None = None
        """Token units (tokens and frames) a second this station saw between its last two
        stats reports, on its own clock: with one token that is rotations a second."""
        self.tap_endpoint: str | None = None
        """Where the station publishes copies for live capture (``ringemu capture``)."""
        self.tapping = False
        """The monitor told this process to tap (and has not told it to stop)."""
        self.clock = ClockOffset()

    def took_stats(self, r: Stats) -> None:
        units = r.counter("tokens") + r.counter("frames")
        if self.units_at is not None and r.t > self.units_at[0] and units >= self.units_at[1]:
            self.unit_rate = (units - self.units_at[1]) / (r.t - self.units_at[0])
        self.units_at = (r.t, units)
        self.stats = r

    def counter(self, name: str) -> int:
        return self.carried.get(name, 0) + (0 if self.stats is None else self.stats.counter(name))

    def new_process(self) -> None:
        """The station was started again: keep what the old process counted."""
        if self.stats is not None:
            for name in self.stats.stats:
                self.carried[name] = self.carried.get(name, 0) + self.stats.counter(name)
            for name in ("tapped", "tap_dropped"):
                self.carried[name] = self.carried.get(name, 0) + getattr(self.stats, name)
        self.stats, self.stats_at = None, 0.0
        self.units_at = self.unit_rate = None
        self.tapping = False

    def tap_counter(self, name: str) -> int:
        """``tapped`` or ``tap_dropped``, over every process of this station."""
        v = 0 if self.stats is None else getattr(self.stats, name)
        return self.carried.get(name, 0) + (v if type(v) is int and v >= 0 else 0)

    def row(self) -> dict:
        """This station in the published ``stations`` event."""
        s = self.stats
        return {"station": self.index, "pid": self.pid, "state": self.state.value,
                "mode": None if s is None else s.mode, "stats": {} if s is None else s.stats,
                "send_dropped": 0 if s is None else s.send_dropped,
                "queue": 0 if s is None else s.queue,
                "tap_dropped": self.tap_counter("tap_dropped")}


class StationTable:
    """Every station of the ring, by index."""

    def __init__(self, n: int) -> None:
        self.all = [StationRecord(i) for i in range(n)]

    def __getitem__(self, index: int) -> StationRecord:
        return self.all[index]

    def __iter__(self):
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def get(self, index: int) -> StationRecord | None:
        return self.all[index] if 0 <= index < len(self.all) else None

    def in_state(self, *states: ProcState) -> list[StationRecord]:
        return [s for s in self.all if s.state in states]

    def all_said_hello(self) -> bool:
        return all(s.endpoint for s in self.all)

    def down(self, among: Iterable[int] | None = None) -> set[int]:
        """Stations that are dead or stopped: by the monitor's own records (it killed or paused
        them, the launcher reported their exit), or by the kernel's word on their process (a
        kill -9 or SIGSTOP from elsewhere). A station that is merely slow to answer is not
        down. ``among`` limits the kernel's check to those stations (the silent ones)."""
        down = {s.index for s in self.all if s.state in DOWN}
        for i in self.all_indices() if among is None else among:
            st = self.all[i]
            if i not in down and st.pid is not None and process_down(st.pid, st.start_time):
                down.add(i)
        return down

    def all_indices(self) -> range:
        return range(len(self.all))

    def rotation(self, members: Iterable[int]) -> float | None:
        """The ring's rotation in seconds: one over the median of the members' unit rates
        (each from two reports of one station, on its own clock, so a report that comes late
        or a station that has not reported yet cannot skew it as a sum over the ring can)."""
        rates = sorted(r for r in (self.all[k].unit_rate for k in members)
                       if r is not None and r > 0)
        return 1.0 / rates[len(rates) // 2] if rates else None

    def forget_rates(self) -> None:
        """The ring's pace changed (a link impaired or cleared): measure every station's unit
        rate afresh, from its next two reports, so no rate from before the change shows."""
        for s in self.all:
            s.unit_rate, s.units_at = None, None

    def token_passes(self) -> int:
        return sum(s.counter("tokens") + s.counter("frames") for s in self.all)

    def total(self, counter: str) -> int:
        return sum(s.counter(counter) for s in self.all)

    def refused(self) -> dict[str, int]:
        """Connections the stations' sockets refused, by socket role."""
        out: dict[str, int] = {}
        for s in self.all:
            if s.stats is not None:
                for role in s.stats.refused:
                    out[str(role)] = out.get(str(role), 0) + s.stats.refused_on(role)
        return out

    def link_totals(self) -> dict[str, int]:
        """The stations' link-layer counters, summed (``LinkStats``: dropped, duplicated...)."""
        out: dict[str, int] = {}
        for s in self.all:
            if s.stats is not None:
                for name, v in s.stats.link.items():
                    if type(v) is int and v >= 0:
                        out[str(name)] = out.get(str(name), 0) + v
        return out

    def zap_denied(self) -> int:
        return sum(max(0, s.stats.zap_denied) for s in self.all if s.stats is not None)


class Launched:
    """The station processes the launcher started, as ``ring.json`` in the runtime folder
    records them: pid and kernel start time by station index.

    The launcher writes ``ring.json`` right after forking, so a station may say hello before
    it exists; ``get`` re-reads the file while an index is missing. The runtime folder is ours
    and 0700, so what it says is trusted, unlike anything that comes over a socket.
    """

    def __init__(self, runtime_dir: str) -> None:
        self.path = Path(runtime_dir) / "ring.json"
        self.known: dict[int, tuple[int, int | None]] = {}

    def get(self, index: int, fresh: bool = False) -> tuple[int, int | None] | None:
        """The record of station ``index``; ``fresh`` reads the file again (a restarted
        station has a new record)."""
        if fresh or index not in self.known:
            self._read()
        return self.known.get(index)

    def _read(self) -> None:
        if not self.path.is_file():
            return
        try:
            info = RingInfo.load(self.path)
        except ConfigError as e:
            log.warning("%s", e)
            return
        for rec in info.processes:
            if rec.get("role") == "station" and type(rec.get("index")) is int \
                    and type(rec.get("pid")) is int:
                self.known[rec["index"]] = (rec["pid"], rec.get("start_time"))
