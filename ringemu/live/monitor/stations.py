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
from ringemu.live.counters import SharedCounters
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
PACE_WINDOW = 0.2
"""Seconds of a station's own clock over which its token rate is measured."""
PACE_STALE = 1.0
"""A window longer than this spans a time the monitor was not running (stopped, starved):
it says nothing about the ring's pace and is dropped."""
PACE_WINDOWS = 9
"""How many of the ring's latest hop-rate windows the pace is the median of."""


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
                 "state", "stats", "stats_at", "carried", "pace", "rate",
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
        self.pace: tuple[float, int] | None = None
        """(time, token passes) the station reported when ``rate`` was last measured from."""
        self.rate: float | None = None
        """Token units this station received per second, on its own clock (one a rotation)."""
        self.tap_endpoint: str | None = None
        """Where the station publishes copies for live capture (``ringemu capture``)."""
        self.tapping = False
        """The monitor told this process to tap (and has not told it to stop)."""
        self.clock = ClockOffset()

    def set_stats(self, stats: Stats, now: float) -> None:
        """New counters from the station (``now``: the monitor's clock when they came). Its
        own clock and counters give its ``rate``: measured over at least ``PACE_WINDOW`` so a
        ring that brings the token a few times between two reports is not rounded badly, and
        never across a gap in which the station could not count (no passes: no rate)."""
        self.stats, self.stats_at = stats, now
        passes = stats.counter("tokens") + stats.counter("frames")
        t = stats.t
        if type(t) not in (int, float) or t != t:
            return
        if self.pace is None or passes < self.pace[1] or t < self.pace[0]:
            self.pace, self.rate = (t, passes), None
            return
        t0, p0 = self.pace
        if t - t0 >= PACE_WINDOW:
            self.rate = (passes - p0) / (t - t0) if passes > p0 else None
            self.pace = (t, passes)

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
        self.pace, self.rate = None, None
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
    """Every station of the ring, by index; ``counters`` are their shared token passes
    (``ringemu.live.counters``), None when the stations do not share them."""

    def __init__(self, n: int, counters: SharedCounters | None = None) -> None:
        self.all = [StationRecord(i) for i in range(n)]
        self.counters = counters
        self._sample: tuple[float, int] | None = None
        self._rates: deque[float] = deque(maxlen=PACE_WINDOWS)
        """The ring's hop rate in its last windows: their median is the pace, so one window
        in which the machine (or a debugger, or a benchmark) stopped the ring does not make
        every station's timers, and its too-soon check, think the ring turns slowly."""

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

    def rotation(self, now: float, members: int) -> float | None:
        """Seconds the token takes round the ring of ``members`` stations.

        With shared counters: the ring's hop rate read from them over at least
        ``PACE_WINDOW`` (exact, and nobody is asked). Without: as the stations' stats see
        it: each station receives every token unit once a rotation, so each one's rate is one
        rotation's inverse; the mean of their rates is robust to reports that come late (each
        is on the station's clock) and to the rounding of the few passes a large ring makes
        between two reports."""
        if self.counters is not None:
            total = self.counters.total()
            if self._sample is None or total < self._sample[1]:
                self._sample = (now, total)
            elif now - self._sample[0] >= PACE_WINDOW:
                t0, p0 = self._sample
                if total > p0 and now - t0 <= PACE_STALE:  # else the monitor itself stalled
                    self._rates.append((total - p0) / (now - t0))
                self._sample = (now, total)
            if not self._rates:
                return None
            rate = sorted(self._rates)[len(self._rates) // 2]
            return members / rate
        rates = [s.rate for s in self.all if s.rate and s.state is ProcState.ALIVE]
        if not rates:
            return None
        mean = sum(rates) / len(rates)
        return 1.0 / mean if mean > 0 else None

    def forget_rates(self) -> None:
        """The ring's pace changed (a link impaired or cleared): measure it afresh, so no rate
        from before the change shows."""
        self._sample = None
        self._rates.clear()
        for s in self.all:
            s.pace, s.rate = None, None

    def token_passes(self) -> int:
        """Every token unit received by every station so far (the shared counts are fresher
        than the last stats; a restarted station's earlier processes are carried)."""
        shared = self.counters.values() if self.counters is not None else None
        total = 0
        for s in self.all:
            own = 0 if s.stats is None else s.stats.counter("tokens") + s.stats.counter("frames")
            if shared is not None and shared[s.index] > own:
                own = shared[s.index]
            total += own + s.carried.get("tokens", 0) + s.carried.get("frames", 0)
        return total

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
