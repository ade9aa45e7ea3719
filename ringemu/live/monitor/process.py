"""The snapshot monitor process: the core ``Supervisor`` and ``RunHistory`` over ZeroMQ.

It brings the ring up (hello, link, go), then carries out what the supervisor decides (the same
object the simulator drives): snapshots, verdicts, alarms, purges, rollbacks, bypassing a dead
station and inserting a restarted one. It injects faults on request, watches its connections to
the stations so that a dead one is known within milliseconds (``linkwatch``), and publishes the
run history as a stream of JSON events that any number of dashboards can follow without slowing
the ring (PUB drops for a slow subscriber instead of blocking). Every event but the frequent
``stations`` one also goes to the run folder's ``events.jsonl``.

Sockets: ``report`` PULL (stations report here), ``control`` ROUTER (``ringemu inject``, the
dashboard and the launcher ask here, REQ/REP style JSON), ``events`` PUB, and per station one
PUSH to its command socket and one into its ring link for the doorbell that says a command is
waiting. Over tcp each speaks CURVE with the run's keys and admits only its peers
(``ringemu.live.auth``); a report must come from the key of the station it names.

The monitor signals (kill, pause, resume) only the processes the launcher recorded in
``ring.json``, checked by kernel start time right before the signal; the pid in a hello is only
compared with that record.

A ring from a spec (``ringemu.live.spec``) binds the spec's addresses, connects to those alone,
and knows each station's endpoints from the spec: a hello naming others is refused. Stations
its own launcher did not start (another host's, or ``ringemu station``'s) are never signalled:
their pid is unknown here (kill and pause are refused for them), a clean exit is known by their
goodbye, a restart by their second hello, and their clocks are moved onto the monitor's by an
offset estimated from each exchange (``ClockOffset``).

All times given to the core and written in events are seconds since the monitor started
(``t``); every process reads the same ``CLOCK_MONOTONIC``, so the times stations report can be
compared with the monitor's.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import zmq

from ringemu.core.history import RunHistory
from ringemu.core.impairments import Impairment
from ringemu.core.membership import Install, Resume
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station_events import StationEvent
from ringemu.core.supervisor import (Order, SetTimers, StartPurge, StartSnapshot, Supervisor,
                                     TraceRequest)
from ringemu.frames.codec import encode
from ringemu.errors import RemoteProtocolError
from ringemu.live import protocol as p
from ringemu.live.auth import HandshakeWatch, Role, ZapHandler
from ringemu.live.counters import SharedCounters
from ringemu.live.keys import MonitorKeys
from ringemu.live.monitor import control
from ringemu.live.monitor.faults import LiveFaults
from ringemu.live.monitor.links import LinkControl
from ringemu.live.monitor.linkwatch import LinkWatch
from ringemu.live.monitor.reporting import Reporting
from ringemu.live.monitor.schedule import deadline_floor
from ringemu.live.monitor.stations import (ClockOffset, Launched, ProcState, StationRecord,
                                           StationTable, process_down)
from ringemu.live.monitor.taps import TapLeases
from ringemu.live.paths import same_process
from ringemu.live.procutil import machine_load, startup_limit
from ringemu.live.sockets import bind, connect, context, endpoint_for, permit, send_nowait
from ringemu.live.spec import Placement
from ringemu.params import RingParams

log = logging.getLogger("ringemu.monitor")


CONTROL_LATENCY = 0.001
"""A command's way to a station and its report's way back, as the supervisor assumes."""
RERING = 0.2
"""Seconds between doorbells for stations that have not answered their link command."""
SOCKETS_PER_STATION = 4
"""The monitor's ZeroMQ sockets per station: a PUSH to its command socket, one for the
doorbell, and the pair that watches the command connection (``linkwatch``)."""
STATS_PERIOD = 1.0
STATS_PERIOD_PER_STATION = 0.004
"""Each station is asked for its counters every ``max(STATS_PERIOD, this * stations)``
seconds when the token passes are shared (4 s in a ring of 1024)."""
TIMER_FLOOR = 0.002
"""The least any station timer may be: a live process can be held back that long for nothing.
It bounds how soon the active monitor suspects a lost token (its valid-transmission timer),
so it is most of a lost token's detection time in a small ring; a suspicion only starts a
snapshot, so a floor too low costs snapshots, never a false alarm."""
TRAFFIC_INTERVAL = 0.5
"""Seconds between ``traffic`` events (the ring's counters, written to ``events.jsonl``)."""


class Phase(StrEnum):
    STARTING = "starting"  # waiting for every station's hello
    LINKING = "linking"  # told every station its downstream neighbour
    RUNNING = "running"  # the first token is out
    STOPPED = "stopped"  # every station told to stop


@dataclass
class MonitorConfig:
    params: RingParams
    runtime_dir: str
    run_dir: str
    publish_interval: float = 0.25
    startup_timeout: float = 0.0
    keys: MonitorKeys | None = None
    """The monitor's CURVE keys (tcp only), handed over in memory by the launcher."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on 127.0.0.1 at this port (``ringemu.live.monitor.metrics``)."""
    placement: Placement | None = None
    """A spec ring's addresses (see the module docstring); None: a ring on this machine."""
    counters: SharedCounters | None = None
    """The stations' token passes, shared with them (``ringemu.live.counters``)."""

    def startup_limit(self) -> float:
        return self.startup_timeout or startup_limit(self.params.stations)


class MonitorProcess(Reporting, LinkControl):
    def __init__(self, cfg: MonitorConfig) -> None:
        self.cfg = cfg
        params = cfg.params
        self.t0 = time.monotonic()
        keys = cfg.keys
        if params.transport == "tcp" and keys is None:
            raise ValueError("a tcp monitor needs the run's keys")
        self.keys = keys
        self.own = keys.own if keys is not None else None
        self.ctx = context(SOCKETS_PER_STATION * params.stations + 32)
        self.placement = cfg.placement
        if self.placement is not None:
            permit(self.placement.addresses)
        self.auth = ZapHandler(self.ctx, params.transport, *_admitted(keys),
                               anywhere=self.placement is not None)
        self.watch = HandshakeWatch(self.ctx)
        folder = Path(cfg.runtime_dir)
        self.report = self.ctx.socket(zmq.PULL)
        self.control = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.sndhwm = 10_000
        self.endpoints = {}
        for role, sock in ((Role.REPORT, self.report), (Role.CONTROL, self.control),
                           (Role.EVENTS, self.pub)):
            self.watch.watch(sock, role)
            at = (endpoint_for(params.transport, folder, role.value) if self.placement is None
                  else self.placement.monitor[role.value])
            self.endpoints[role.value] = bind(sock, at, role, self.own)
        self.launched = Launched(cfg.runtime_dir)
        self.parked: list[p.Hello] = []
        """Hellos waiting for the launcher's record of their station (``ring.json``)."""
        self.hello_mismatch = 0
        self.stations = StationTable(params.stations, cfg.counters)
        self.events_file = open(Path(cfg.run_dir) / "events.jsonl", "a", buffering=1)
        self.history = RunHistory(self._record)
        self.supervisor = Supervisor(
            self.history, stations=params.stations, active_monitor=params.active_monitor,
            recovery=params.recovery, interval=params.snapshot_interval,
            min_deadline=deadline_floor(params.snapshot_deadline, params.stations, None),
            control_latency=CONTROL_LATENCY, timer_floor=TIMER_FLOOR,
            suspicions=params.suspicions, trace=params.trace, one_at_a_time=True)
        self.core = self.supervisor.snapshots
        self.links = LinkWatch(self.ctx)
        self.restart_wanted: set[int] = set()
        """Dead stations the launcher should start again (``ringemu restart``)."""
        self.faults = LiveFaults(self, params.seed)
        self.link_settings: dict[int, Impairment] = {
            k: params.impairment_for(k) for k in range(params.stations)}
        """What each station's outgoing link does now (``ringemu link`` changes it)."""
        self.phase = Phase.STARTING
        self.running = True
        self.linked: set[int] = set()
        self.link_sent: set[int] = set()
        self.said_hello = 0
        self.rering_at = float("inf")
        self.next_publish = 0.0
        self.bad_reports = 0
        self.bad_requests = 0
        self.pending_summary: list[tuple[list[bytes], float, float]] = []
        self.hop_rate = 0.0
        self.next_traffic = 0.0
        self.traffic_passes: tuple[float, int] = (0.0, 0)
        self.taps = TapLeases()
        self.metrics = None
        if cfg.metrics_port is not None:
            from ringemu.live.monitor.metrics import RingMetrics

            self.metrics = RingMetrics(self, cfg.metrics_port)
        self.rotations: deque[tuple[float, float]] = deque()
        """Recent rotation measurements (time, seconds), ``RATE_WINDOW`` seconds of them."""
        self._stats_cursor = 0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def running_ring(self) -> bool:
        return self.phase is Phase.RUNNING

    # -- events -----------------------------------------------------------------------------------
    def _record(self, event: dict) -> None:
        """The history's sink: publish the event and write it to ``events.jsonl``."""
        line = json.dumps(event, separators=(",", ":"), allow_nan=False)
        send_nowait(self.pub, line.encode())
        self.events_file.write(line + "\n")
        if self.metrics is not None:
            self.metrics.observe(event)

    def _publish_only(self, event: dict) -> None:
        send_nowait(self.pub, p.dumps(event))

    # -- main loop --------------------------------------------------------------------------------
    def serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.report, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        poller.register(self.links.socket, zmq.POLLIN)
        params = self.cfg.params
        self.history.ring_starting(self.now(), params.stations, self.endpoints)
        if params.impairment.active:
            self.history.impairment(self.now(), None, params.impairment)
        for k, imp in sorted(params.link_impairments.items()):
            self.history.impairment(self.now(), k, imp)
        startup_deadline = self.cfg.startup_limit()
        while self.running:
            now = self.now()
            wake = self._next_wake()
            if self.phase in (Phase.STARTING, Phase.LINKING):
                wake = min(wake, startup_deadline)
            timeout = max(0, min(int((wake - now) * 1000) + 1, 1000))
            ready = dict(poller.poll(timeout))
            if self.report in ready:
                self._drain_reports()
            if self.control in ready:
                self._drain_control()
            if self.links.socket in ready:
                for k in self.links.take():
                    self.check_down(k)
            now = self.now()
            starting = self.phase in (Phase.STARTING, Phase.LINKING)  # not once stopped
            if starting and now >= startup_deadline:
                missing = [s.index for s in self.stations.in_state(ProcState.STARTING)]
                self.history.error(now, f"ring did not come up in {startup_deadline:.1f} s; "
                                        f"silent stations: {missing[:20]}")
                raise SystemExit(3)
            self._timers(now)

    def _next_wake(self) -> float:
        wakes = [self.next_publish, self.faults.next_resume(), self.faults.next_planned(),
                 self.rering_at]
        if self.phase is Phase.RUNNING:
            wakes.append(self.supervisor.next_wake())
        if self.parked:
            wakes.append(self.now() + 0.01)
        wakes.extend(p[2] for p in self.pending_summary)
        return min(wakes)

    def _timers(self, now: float) -> None:
        if self.parked:
            parked, self.parked = self.parked, []
            for hello in parked:
                try:
                    self._on_report(hello)
                except RemoteProtocolError as e:
                    self.bad_reports += 1
                    log.warning("bad report dropped: %s", e)
        if self.phase is Phase.LINKING and now >= self.rering_at:
            self._ring_again()
        if self.phase is Phase.RUNNING:
            down: set[int] = set()
            if self.core.next_deadline is not None and now >= self.core.next_deadline:
                down = self.stations.down(self.core.silent())
                for k in down:
                    self.check_down(k)
            self.carry_out(self.supervisor.tick(now, down, machine_load()))
        self.faults.resume_due(now)
        if self.phase is Phase.RUNNING:
            self.faults.fire_planned(now)
        if now >= self.next_publish:
            self.next_publish = now + self.cfg.publish_interval
            self.watch.refused()  # take the socket events as they come (and log refusals)
            if self.taps.leases or any(s.tapping for s in self.stations):
                self.sync_taps(now)
            if self.phase is Phase.RUNNING:
                self._publish_stations(now)
                if now >= self.next_traffic:
                    self.next_traffic = now + TRAFFIC_INTERVAL
                    self.record_traffic(now)
                self._ask_stats(now)
            if self.metrics is not None:
                self.metrics.tick(now)
        if self.pending_summary:
            self._answer_summaries(now)

    def _ask_stats(self, now: float) -> None:
        """Ask for the stations' counters (stations have no timers of their own), each at most
        every ``stats_period``, a share of them at each publish tick: asking wakes a station,
        so asking all of them four times a second cost as much as a sixth of a 512-station
        ring's hops. The token passes come from the shared counters meanwhile; without them
        (stations not forked by the launcher) every station is asked every tick."""
        n = len(self.stations)
        if self.stations.counters is None:
            share = n
        else:
            period = max(STATS_PERIOD, STATS_PERIOD_PER_STATION * n)
            share = max(1, math.ceil(n * self.cfg.publish_interval / period))
        for _ in range(min(share, n)):
            s = self.stations[self._stats_cursor % n]
            self._stats_cursor += 1
            if s.state in (ProcState.ALIVE, ProcState.PAUSED) and self.command(s, p.AskStats()):
                s.clock.asked(self.t0 + now)

    # -- reports from stations --------------------------------------------------------------------
    def _drain_reports(self) -> None:
        keyed = self.keys is not None  # then each message says whose key sent it
        for _ in range(10_000):
            try:
                msg = self.report.recv(zmq.NOBLOCK, copy=not keyed)
            except zmq.Again:
                return
            try:
                if keyed:
                    sender = msg.get("User-Id")
                    r = p.decode_report(msg.bytes)
                    if sender != f"station-{r.station}":
                        raise RemoteProtocolError(f"a report for station {r.station} came "
                                                  f"from {sender or 'another key'}")
                else:
                    r = p.decode_report(msg)
                self._on_report(r)
            except RemoteProtocolError as e:
                self.bad_reports += 1
                log.warning("bad report dropped: %s", e)

    def _on_report(self, r: p.Report) -> None:
        st = self.stations.get(r.station)
        if st is None:
            raise RemoteProtocolError(f"report from unknown station {r.station}")
        now = self.now()
        t = type(r)
        if t is p.Part:
            self.carry_out(self.supervisor.part(self._to_monitor_clock(r.part), now))
        elif t is p.Installed:
            self.carry_out(self.supervisor.installed(st.index, r.epoch, now))  # type: ignore
        elif t is p.Resumed:
            self.carry_out(self.supervisor.resumed(st.index, r.epoch, now))  # type: ignore
        elif t is p.Stats or t is p.Bye:
            st.set_stats(r, now)  # type: ignore[arg-type]
            if t is p.Stats:  # an answer to a request (a goodbye answers none)
                st.clock.answered(self.t0 + now, r.t)  # type: ignore[attr-defined]
            if t is p.Bye and st.state is not ProcState.DEAD:
                if self.remote(st) and self.phase is Phase.RUNNING:
                    self.history.station_exit(now, st.index, None, None)
                    self.station_dead(st)  # its host's launcher ended it: bypass it
                st.state = ProcState.EXITED
        elif t is p.EventReport:
            self._station_event(r.event)  # type: ignore[attr-defined]
        elif t is p.Hello:
            self._hello(st, r)  # type: ignore[arg-type]
        elif t is p.Linked:
            self.linked.add(st.index)
            if self.phase is Phase.LINKING and len(self.linked) == len(self.stations):
                self._go()

    def _to_monitor_clock(self, part: LocalSnapshot) -> LocalSnapshot:
        """A part with its cut time on the monitor's clock (``t`` since the monitor started)."""
        st = self.stations.get(part.node)
        offset = 0.0 if st is None else st.clock.offset
        return replace(part, state=replace(part.state, at=part.state.at + offset - self.t0))

    def remote(self, st: StationRecord) -> bool:
        """Was station ``st`` started by another launcher than the monitor's (another host,
        or ``ringemu station``)? Such a process is never signalled from here."""
        return self.placement is not None and st.index not in self.placement.launched_here

    def _hello(self, st: StationRecord, r: p.Hello) -> None:
        if self.remote(st):
            self._remote_hello(st, r)
            return
        restarted = st.state in (ProcState.DEAD, ProcState.EXITED)
        launched = self.launched.get(st.index, fresh=restarted)
        if launched is None or (restarted and launched[0] == st.pid):
            self.parked.append(r)  # ring.json not written yet: try again in a moment
            return
        if r.pid != launched[0]:
            self.hello_mismatch += 1
            log.warning("hello from station %d says pid %d, the launcher started pid %d: "
                        "the message's pid is ignored", st.index, r.pid, launched[0])
        if st.state is not ProcState.STARTING and not restarted:
            raise RemoteProtocolError(f"a second hello from station {st.index}")
        st.pid, st.start_time = launched
        self._station_said_hello(st, r, restarted)

    def _remote_hello(self, st: StationRecord, r: p.Hello) -> None:
        """A hello from a station another launcher started: its endpoints must be the spec's,
        its pid is never taken. A second hello is a new process of it (its host restarted it):
        the old one is bypassed, if it was not already, and the new one inserted."""
        assert self.placement is not None
        want = self.placement.stations[st.index]
        if (r.endpoint, r.cmd) != want:
            raise RemoteProtocolError(f"hello from station {st.index} names {r.endpoint} and "
                                      f"{r.cmd}; the spec says {want[0]} and {want[1]}")
        restarted = st.state is not ProcState.STARTING
        if restarted and self.phase is not Phase.RUNNING:
            raise RemoteProtocolError(f"a second hello from station {st.index} before the "
                                      "ring is up")
        if restarted and st.state is not ProcState.DEAD:
            self.history.station_exit(self.now(), st.index, None, None)
            self.station_dead(st)
        st.pid, st.start_time = None, None
        st.clock = ClockOffset(st.index in self.placement.same_clock)
        if r.t is not None:
            st.clock.hello(self.t0 + self.now(), r.t)
        self._station_said_hello(st, r, restarted)

    def _station_said_hello(self, st: StationRecord, r: p.Hello, restarted: bool) -> None:
        st.endpoint, st.cmd_endpoint, st.tap_endpoint = r.endpoint, r.cmd, r.tap
        st.state = ProcState.ALIVE
        if restarted:
            st.new_process()
        public = self.keys.stations[st.index] if self.keys is not None else None
        for old in (st.cmd, st.bell):
            if old is not None:
                old.close(linger=0)
        st.cmd = self.ctx.socket(zmq.PUSH)
        st.cmd.sndhwm = 1000
        connect(st.cmd, r.cmd, self.own, public)
        self.links.add(st.cmd, st.index)
        st.bell = self.ctx.socket(zmq.PUSH)
        st.bell.sndhwm = 1000
        connect(st.bell, r.endpoint, self.own, public)
        if restarted:  # by --restart or by request: either way recorded as the simulator does
            self.history.restart(self.now(), st.index)
        self.history.station_up(self.now(), st.index, st.pid, st.endpoint)
        if restarted:
            self.restart_wanted.discard(st.index)
            self.faults.cut.discard(st.index)  # its link layer is new: not cut
            imp = self.link_settings[st.index]
            if imp != self.cfg.params.impairment_for(st.index):  # changed while it ran
                self.command(st, p.Impair(imp.to_json() if imp.active else None))
            self.carry_out(self.supervisor.station_up(st.index, self.now()))
            return
        if self.phase is Phase.STARTING:
            # each link as soon as both its ends are up, so the ring links while the last
            # stations are still starting, not after them
            n = len(self.stations)
            self.said_hello += 1
            for k in ((st.index - 1) % n, st.index):
                self._link(k)
            if self.said_hello == n:
                self.phase = Phase.LINKING
                self.rering_at = self.now() + RERING
                if len(self.linked) == n:
                    self._go()

    def _link(self, k: int) -> None:
        """Tell station ``k`` its downstream neighbour, once both have said hello."""
        n = len(self.stations)
        i = (k + 1) % n
        nxt = self.stations[i].endpoint
        if k in self.link_sent or nxt is None or self.stations[k].endpoint is None:
            return
        self.link_sent.add(k)
        self.command(self.stations[k], p.Link(nxt, None if self.keys is None
                                              else self.keys.stations[i]))

    def _ring_again(self) -> None:
        """Ring the doorbell again of every station that has not said it linked. A station
        waits for a command a short while after its doorbell (``DOORBELL_WAIT_MS``); on a
        loaded machine the command's own connection may take longer to come up, and then it
        waits in the station's command socket until the next doorbell. Once the ring runs
        there is always a next one; while it links there is not (ringing with no command
        costs a station that wait, and is counted)."""
        self.rering_at = self.now() + RERING
        for s in self.stations:
            if s.index not in self.linked and s.bell is not None:
                send_nowait(s.bell, p.DOORBELL)

    def _go(self) -> None:
        self.phase = Phase.RUNNING
        self.rering_at = float("inf")
        now = self.now()
        n = len(self.stations)
        self.supervisor.guess_rotation(0.002 * n)  # until the hop rate is measured
        self.command(self.stations[self.cfg.params.active_monitor], p.Go())
        self.history.ring_up(now, [s.pid for s in self.stations],
                             self.supervisor.ring.current.active_monitor)
        self.carry_out(self.supervisor.ring_up(now))
        self.next_publish = now

    def _station_event(self, ev: StationEvent) -> None:
        st = self.stations.get(ev.station)
        offset = 0.0 if st is None else st.clock.offset
        ev = replace(ev, t=ev.t + offset - self.t0)
        self.carry_out(self.supervisor.station_event(ev, self.now()))

    # -- what the supervisor decides --------------------------------------------------------------
    def carry_out(self, orders: list[Order]) -> None:
        for o in orders:
            st = self.stations[o.station]
            c = o.command
            kind = type(c)
            if kind is StartSnapshot:
                self.command(st, p.StartSnapshot(c.sid))
            elif kind is StartPurge:
                self.command(st, p.StartPurge())
            elif kind is SetTimers:
                t = c.timers
                self.command(st, p.SetTimers(t.valid_transmission, t.no_token, t.claim_retry,
                                             t.short_gaps_within))
            elif kind is Install:
                self.command(st, self._install(c))
            elif kind is Resume:
                self.command(st, p.Resume(c.epoch))
            elif kind is TraceRequest:
                self.command(st, p.TraceRequest(c.sid, c.since + self.t0))

    def _install(self, c: Install) -> p.Install:
        nxt = self.stations[c.downstream]
        assert nxt.endpoint is not None
        key = None if self.keys is None else self.keys.stations[c.downstream]
        return p.Install(c.epoch, c.upstream, c.downstream, sorted(c.members),
                         c.active_monitor, nxt.endpoint, key, c.monitor_present,
                         None if c.restore is None else c.restore.to_json(),
                         None if c.restore is None else [encode(m).hex() for m in c.resend])

    def begin_snapshot(self, now: float, initiator: int | None = None) -> int | None:
        orders = self.supervisor.begin(now, initiator)
        self.carry_out(orders)
        return orders[0].command.sid if orders else None  # type: ignore[union-attr]

    def check_down(self, k: int) -> None:
        """Station ``k`` may be down: ask the kernel, and tell the supervisor if it is dead
        (it will be bypassed) or stopped by someone else."""
        st = self.stations.get(k)
        if st is None or st.pid is None or self.phase is not Phase.RUNNING:
            return
        if st.state in (ProcState.DEAD, ProcState.PAUSED):
            return
        if not same_process(st.pid, st.start_time) or process_down(st.pid, st.start_time):
            if not same_process(st.pid, st.start_time) or _zombie(st.pid):
                self.station_dead(st)

    def station_dead(self, st: StationRecord) -> None:
        if st.state is ProcState.DEAD:
            return
        st.state = ProcState.DEAD
        self.carry_out(self.supervisor.station_down(st.index, self.now(), dead=True))

    # -- commands and signals to stations ---------------------------------------------------------
    def command(self, st: StationRecord, cmd: p.Command) -> bool:
        """Queue ``cmd`` on the station's command socket, then ring its doorbell (in that
        order: the station may still see the doorbell first, and waits a moment for it)."""
        if st.cmd is None or st.bell is None or st.state is ProcState.DEAD:
            return False
        if not send_nowait(st.cmd, cmd.to_wire()):
            log.warning("command %s to station %d dropped (queue full)", cmd.tag, st.index)
            return False
        if not send_nowait(st.bell, p.DOORBELL):
            log.warning("doorbell for %s to station %d dropped (queue full); the command "
                        "waits for the next one", cmd.tag, st.index)
        return True

    def want_restart(self, k: int) -> str | None:
        """Ask the launcher to start dead station ``k`` again; the reason when it cannot be."""
        st = self.stations.get(k)
        if st is None:
            return f"no station {k}"
        if st.state not in (ProcState.DEAD, ProcState.EXITED):
            return f"station {k} is {st.state}, not dead"
        self.restart_wanted.add(k)
        return None

    def signal(self, st: StationRecord, sig: int) -> bool:
        """Signal a station process: the one the launcher recorded, and only while it is still
        that very process (same kernel start time)."""
        if st.pid is None or not same_process(st.pid, st.start_time):
            return False
        os.kill(st.pid, sig)
        return True

    # -- control requests -------------------------------------------------------------------------
    def _drain_control(self) -> None:
        for _ in range(1000):
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 3:
                continue
            envelope, body = frames[:-1], frames[-1]
            answer = control.handle(self, body, envelope)
            if answer is not None:
                self.reply(envelope, answer)

    def reply(self, envelope: list[bytes], answer: dict) -> None:
        try:
            self.control.send_multipart(envelope + [p.dumps(answer)], zmq.NOBLOCK)
        except zmq.ZMQError as e:
            log.warning("control reply lost: %s", e)

    # -- stopping ---------------------------------------------------------------------------------
    def stop(self) -> None:
        if self.phase is Phase.STOPPED:
            return
        if self.phase is Phase.RUNNING:
            self.record_traffic(self.now())
        for s in self.stations:
            self.command(s, p.Stop())
        self.history.ring_down(self.now(), self.core.completed)
        self.phase = Phase.STOPPED
        self.running = False

    def close(self) -> None:
        time.sleep(0.02)  # let queued stop commands and replies leave before linger=0 closes
        for s in self.stations:
            for sock in (s.cmd, s.bell):
                if sock is not None:
                    sock.close(linger=0)
        self.watch.close()
        self.links.close()
        for sock in (self.report, self.control, self.pub):
            sock.close(linger=0)
        if self.metrics is not None:
            self.metrics.close()
        self.auth.stop()
        self.ctx.term()
        self.events_file.close()


def _zombie(pid: int) -> bool:
    from ringemu.live.paths import proc_state

    return proc_state(pid) in (None, "Z", "X")


def _admitted(keys: MonitorKeys | None) -> tuple[dict, dict]:
    """Who the ZAP handler admits: the stations on ``report``, the operator on ``control``
    and ``events`` (over ipc: the roles, no keys)."""
    if keys is None:
        return {Role.REPORT: (), Role.CONTROL: (), Role.EVENTS: ()}, {}
    names = {k: f"station-{i}" for i, k in enumerate(keys.stations)}
    names[keys.operator] = "operator"
    return ({Role.REPORT: keys.stations, Role.CONTROL: (keys.operator,),
             Role.EVENTS: (keys.operator,)}, names)


def run(cfg: MonitorConfig, ready_fd: int | None = None, log_file: str | None = None) -> int:
    """Run the monitor process; writes its endpoints as one JSON line to ``ready_fd``."""
    from ringemu.live.procutil import setup_logging

    setup_logging(log_file)
    proc = None

    def stop(signum, frame):  # noqa: ARG001
        if proc is not None:
            proc.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            proc = MonitorProcess(cfg)
            if proc.metrics is not None:
                proc.metrics.start()
        except OSError as e:  # a port or socket that cannot be had: say so to the launcher
            log.error("cannot start: %s", e)
            if ready_fd is not None:
                os.write(ready_fd, (json.dumps({"error": str(e)}) + "\n").encode())
            return 2
        if ready_fd is not None:
            os.write(ready_fd, (json.dumps(proc.endpoints) + "\n").encode())
            os.close(ready_fd)
        proc.serve()
        return 0
    except SystemExit as e:
        return int(e.code or 0)
    except Exception:
        log.exception("monitor crashed")
        return 1
    finally:
        if proc is not None:
            proc.stop()
            proc.close()


