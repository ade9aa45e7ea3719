"""What the monitor tells about the run: the ``stations`` and ``traffic`` events, ``status``
and the summary.

Mixed into ``MonitorProcess`` (``ringemu.live.monitor.process``). Publishing the stations'
rows is also where the ring's pace is measured (from the token passes the stations share),
and with it the snapshot deadlines (the current pace) and the station timers (the fastest
recent rotation) are set.
"""

from __future__ import annotations

from ringemu.checker import judge
from ringemu.core.history import TRAFFIC_COUNTERS
from ringemu.core.verdict import AlarmAction
from ringemu.live import protocol as p
from ringemu.live.monitor.schedule import deadline_floor
from ringemu.live.monitor.stations import ProcState
from ringemu.summary import summary as run_summary

RATE_WINDOW = 10.0
"""Seconds of rotation measurements the ring's rotation is taken from (their shortest): a ring
that stalls (its token held up behind a partition, a stopped station on another host) must not
stretch the snapshot deadlines and station timers that are to name it."""


class Reporting:
    """Events, status and summary; see the module docstring."""

    def _publish_stations(self, now: float) -> None:
        passes = self.stations.token_passes()
        members = self.supervisor.ring.members
        rotation = self.stations.rotation(now, len(members))
        if rotation is not None:
            self.hop_rate = len(members) / rotation
            self.rotations.append((now, rotation))
        while self.rotations and self.rotations[0][0] < now - RATE_WINDOW:
            self.rotations.popleft()
        if rotation is not None:  # deadlines: as slow as the ring is now (a loaded machine)
            self.core.min_deadline = deadline_floor(
                self.cfg.params.snapshot_deadline, len(members), self.hop_rate)
        # timers: the ring's speed while it turns, the fastest of its recent rotations. A window
        # in which the token was lost (a lossy link, a fault) must not stretch them, or
        # recovery slows down in turn (a lost purge waited out a valid-transmission time of
        # seconds)
        if self.rotations:
            self.carry_out(self.supervisor.measured_rotation(min(r for _, r in self.rotations)))
        self._publish_only({
            "event": "stations", "t": round(now, 6),
            "stations": [s.row() for s in self.stations], "token_passes": passes,
            "hop_rate": round(self.hop_rate, 1), "snapshots": self.core.completed,
            "alarms": sorted(self.core.alarms.active)})

    def record_traffic(self, now: float) -> None:
        """A ``traffic`` event: token passes so far, the hop rate since the last one, and
        each station's counters (as its latest stats said)."""
        passes = self.stations.token_passes()
        t0, p0 = self.traffic_passes
        rate = (passes - p0) / (now - t0) if now > t0 and p0 else self.hop_rate
        self.traffic_passes = (now, passes)
        self.history.traffic(round(now, 6), passes, max(rate, 0.0), {
            s.index: {**{k: s.stats.counter(k) for k in TRAFFIC_COUNTERS},
                      "send_dropped": max(0, s.stats.send_dropped)}
            for s in self.stations if s.stats is not None})

    def status(self) -> dict:
        last = self.history.results[-1] if self.history.results else None
        up = self.history.up_at
        return {
            "phase": self.phase.value,
            "stations": len(self.stations),
            "up_s": None if up is None else round(self.now() - up, 3),
            "snapshots": self.core.completed,
            "alarms": [a.to_json(AlarmAction.RAISED) for a in self.core.alarms.active.values()],
            "last_verdict": None if last is None else last.verdict.value,
            "token_passes": self.stations.token_passes(),
            "hop_rate": round(self.hop_rate, 1),
            "station_states": {str(s.index): s.state.value for s in self.stations},
            "epoch": self.supervisor.ring.current.epoch,
            "members": list(self.supervisor.ring.members),
            "bypassed": sorted(self.supervisor.ring.bypassed),
            "active_monitor": self.supervisor.ring.current.active_monitor,
            "ring_phase": self.supervisor.ring.phase.value,
            "tvx_ms": (None if self.supervisor.timers is None
                       else round(1000 * self.supervisor.timers.valid_transmission, 3)),
            "bad_reports": self.bad_reports,
            "bad_requests": self.bad_requests,
            "malformed": self.stations.total("malformed"),
            "stale": self.stations.total("stale"),
            "pids": {str(s.index): s.pid for s in self.stations},
            "station_endpoints": {str(s.index): {"ring": s.endpoint, "cmd": s.cmd_endpoint,
                                                 "tap": s.tap_endpoint}
                                  for s in self.stations},
            "capture": self.capture_status(),
            "hello_mismatch": self.hello_mismatch,
            "faults_planned": len(self.faults.planned),
            "injections_refused": len(self.history.refused),
            "payloads_in_flight": self.history.ledger.account(self.history.gone,
                                                              final=False)["in_flight"],
            "impairments": {str(k): imp.describe() for k, imp in self.link_settings.items()
                            if imp.active},
            "cuts": [list(c) for c in sorted(self.core.cuts.items())],
            "link": self.stations.link_totals(),
            **self.refusals(),
        }

    def refusals(self) -> dict:
        """Connections refused in the handshake, the monitor's and the stations' summed, by
        socket role (``refused_by_socket``), and how many of them ZAP said no to."""
        by_role = self.stations.refused()
        for role, n in self.watch.refused().items():
            by_role[role] = by_role.get(role, 0) + n
        return {"refused": sum(by_role.values()), "refused_by_socket": by_role,
                "zap_denied": self.auth.denied_total + self.stations.zap_denied()}

    def ask_summary(self, envelope: list[bytes], final: bool = False) -> None:
        """Answer with the summary once every live station sent fresh counters (or soon)."""
        now = self.now()
        for s in self.stations:
            if self.command(s, p.AskStats()):
                s.clock.asked(self.t0 + now)
        self.pending_summary.append((envelope, now, now + 0.3, final))

    def _answer_summaries(self, now: float) -> None:
        keep = []
        for envelope, asked, deadline, final in self.pending_summary:
            alive = self.stations.in_state(ProcState.ALIVE)
            if all(s.stats_at >= asked for s in alive) or now >= deadline:
                self.reply(envelope, p.reply(**self.summary(now, final)))
            else:
                keep.append((envelope, asked, deadline, final))
        self.pending_summary = keep

    def summary(self, now: float, final: bool = False) -> dict:
        h = self.history
        data = run_summary(h, judge(h, final), lambda s: s * 1000.0, "detection_latency_ms")
        up = h.up_at if h.up_at is not None else now
        duration = now - up
        passes = self.stations.token_passes()
        data.update(
            stations=len(self.stations),
            duration_s=round(duration, 3),
            token_passes=passes,
            hop_rate=round(passes / duration, 1) if duration > 0 else 0.0,
            snapshots_per_s=round(data["snapshots"] / duration, 2) if duration > 0 else 0.0,
            monitor_t0=self.t0,
            startup_s=None if h.up_at is None else round(h.up_at, 4),
            first_snapshot_s=None if h.first_snapshot_at is None
            else round(h.first_snapshot_at, 4),
            malformed=self.stations.total("malformed"),
        )
        durations = sorted(r.duration for r in h.results if r.count is not None)
        if durations:
            data["snapshot_ms_p50"] = round(durations[len(durations) // 2] * 1000, 3)
            data["snapshot_ms_max"] = round(durations[-1] * 1000, 3)
        return data
