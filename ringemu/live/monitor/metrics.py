"""Prometheus metrics of a live ring (``--metrics-port PORT``), served by the monitor process.

The monitor already sees everything a metric needs: every event of the run history passes
through its ``_record`` (snapshots, alarms, faults, purges, membership changes) and it asks every
station for its counters four times a second. So the metrics live here, in three parts:

- counters and histograms fed by the events as they are recorded (``observe``): snapshots by
  verdict, snapshot completion times, alarms raised and cleared, faults injected, purges,
  rollbacks, membership changes;
- detection latencies, from the ground-truth checker's own judgement (``ringemu.checker``):
  a fault counts as detected, with its latency, exactly when ``ringemu run``'s summary would
  say so. Judging reads the whole history, so it runs only while a fault waits for its outcome,
  at most once a second, and backs off so that it never takes more than ``JUDGE_SHARE`` of the
  monitor's time;
- gauges and per-station counters read at scrape time from a snapshot the monitor's loop
  replaces every 250 ms (``tick``): one reference, swapped whole, so the HTTP thread never sees
  half an update and never touches the monitor's own tables.

The HTTP server (``prometheus_client``'s, a daemon thread in the monitor process) binds
127.0.0.1 only, and sleeps between scrapes. Metric names are listed in ``docs/metrics.md``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Iterator

from prometheus_client import (CollectorRegistry, Counter, Histogram, ProcessCollector,
                               disable_created_metrics)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from ringemu.checker import Outcome, judge
from ringemu.faults import FaultKind
from ringemu.live.auth import LOOPBACK

if TYPE_CHECKING:
    from ringemu.live.monitor.process import MonitorProcess

log = logging.getLogger(__name__)
disable_created_metrics()  # no ``_created`` series: this process serves only these metrics

JUDGE_EVERY = 1.0
"""Least seconds between two judgements for the detection metrics."""
JUDGE_SHARE = 0.02
"""Most of the monitor's time the detection metrics may take (judging a long run is slow)."""
DETECTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
SNAPSHOT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
STATION_COUNTERS = ("tokens", "frames", "markers", "sent", "delivered", "acked", "malformed",
                    "dropped", "absorbed", "orphans", "purges", "stale", "claims",
                    "suspicions", "gave_up")
"""The stations' own counters (``ringemu.core.state`` stats), one metric each by station."""


class RingMetrics:
    """See the module docstring. ``start()`` binds the port (OSError when it is taken)."""

    def __init__(self, monitor: MonitorProcess, port: int) -> None:
        self.monitor = monitor
        self.port = port
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.snapshots = Counter("ringemu_snapshots", "Snapshots concluded, by verdict.",
                                 ["verdict"], registry=r)
        self.snapshot_seconds = Histogram(
            "ringemu_snapshot_duration_seconds",
            "Time from a snapshot's start to its last part (snapshots that counted).",
            buckets=SNAPSHOT_BUCKETS, registry=r)
        self.alarms = Counter("ringemu_alarms", "Alarms raised, by verdict.", ["verdict"],
                              registry=r)
        self.cleared = Counter("ringemu_alarms_cleared", "Alarms cleared, by verdict.",
                               ["verdict"], registry=r)
        self.injected = Counter("ringemu_faults_injected", "Faults injected, by kind.",
                                ["kind"], registry=r)
        self.detected = Counter("ringemu_faults_detected",
                                "Faults the checker judged detected, by kind.", ["kind"],
                                registry=r)
        self.detection = Histogram(
            "ringemu_detection_latency_seconds",
            "From a fault's injection to the snapshot that detected it (the checker's "
            "judgement), by kind.", ["kind"], buckets=DETECTION_BUCKETS, registry=r)
        self.purges = Counter("ringemu_purges", "Ring purges started by the active monitor.",
                              registry=r)
        self.rollbacks = Counter("ringemu_rollbacks", "Rollbacks to a snapshot.", registry=r)
        self.membership = Counter("ringemu_membership_changes",
                                  "Ring rebuilds (new epochs), by reason.", ["reason"],
                                  registry=r)
        self.suspicions = Counter("ringemu_suspicions", "Suspicions raised by stations.",
                                  registry=r)
        r.register(_Snapshot(self))
        ProcessCollector(registry=r)  # the monitor process's own CPU and memory
        for verdict in ("OK", "LOST", "DUPLICATE", "INCOMPLETE", "RECOVERING"):
            self.snapshots.labels(verdict)  # present at zero from the start
        for verdict in ("LOST", "DUPLICATE", "INCOMPLETE"):
            self.alarms.labels(verdict)
            self.cleared.labels(verdict)
        for fault in FaultKind:
            for metric in (self.injected, self.detected, self.detection):
                metric.labels(fault.value)
        self.view: dict = {}
        """What the HTTP thread reads at scrape time; replaced whole by ``tick``."""
        self.counted_faults: set[int] = set()
        self.pending_faults = 0
        self.judge_after = 0.0
        self.judged_results = -1
        self.server = None

    def start(self) -> None:
        self.server, _ = start_http_server(self.port, addr=LOOPBACK, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", LOOPBACK, self.port)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- from the events ------------------------------------------------------------------------
    def observe(self, e: dict) -> None:
        kind = e.get("event")
        if kind == "snapshot":
            self.snapshots.labels(str(e.get("verdict"))).inc()
            if e.get("count") is not None and e.get("duration_ms") is not None:
                self.snapshot_seconds.observe(e["duration_ms"] / 1000.0)
        elif kind == "alarm":
            (self.alarms if e.get("action") == "raised" else self.cleared).labels(
                str(e.get("kind"))).inc()
        elif kind == "inject":
            self.injected.labels(str(e.get("fault"))).inc()
            self.pending_faults += 1
        elif kind == "purge_started":
            self.purges.inc()
        elif kind == "rollback":
            self.rollbacks.inc()
        elif kind == "membership":
            self.membership.labels(str(e.get("reason"))).inc()
        elif kind == "suspicion":
            self.suspicions.inc()

    # -- every 250 ms -----------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        m = self.monitor
        core, ring = m.core, m.supervisor.ring
        active: dict[str, int] = {}
        for alarm in core.alarms.active.values():
            active[alarm.kind.value] = active.get(alarm.kind.value, 0) + 1
        rows = []
        for s in m.stations:
            counters = {name: s.counter(name) for name in STATION_COUNTERS}
            counters["send_dropped"] = 0 if s.stats is None else max(0, s.stats.send_dropped)
            counters["tap_dropped"] = s.tap_counter("tap_dropped")
            rows.append((str(s.index), s.state.value, counters))
        capture = m.capture_status()
        up = m.history.up_at
        self.view = {
            "token_passes": m.stations.token_passes(), "hop_rate": m.hop_rate,
            "active": active, "epoch": ring.current.epoch, "members": len(ring.members),
            "stations": rows, "readers": capture["readers"], "copies": capture["copies"],
            "copies_dropped": capture["dropped"],
            "up_seconds": 0.0 if up is None else max(0.0, now - up),
        }
        if self.pending_faults and now >= self.judge_after \
                and len(m.history.results) != self.judged_results:
            self._judge(now)

    def _judge(self, now: float) -> None:
        """Count the faults the checker now calls detected (each once) with their latency."""
        h = self.monitor.history
        started = time.monotonic()
        judgement = judge(h, final=False)
        spent = time.monotonic() - started
        self.judged_results = len(h.results)
        self.judge_after = now + max(JUDGE_EVERY, spent / JUDGE_SHARE)
        waiting = 0
        for f in judgement.faults:
            fid = f.fault.fault_id
            if fid in self.counted_faults:
                continue
            if f.outcome in (Outcome.UNOBSERVED, Outcome.NOT_FIRED):
                waiting += 1
                continue
            self.counted_faults.add(fid)
            if f.outcome is Outcome.DETECTED:
                kind = f.fault.kind.value
                self.detected.labels(kind).inc()
                if f.latency is not None:
                    self.detection.labels(kind).observe(max(0.0, f.latency))
        self.pending_faults = waiting


class _Snapshot(Collector):
    """The gauges and per-station counters, from ``RingMetrics.view`` at scrape time."""

    def __init__(self, metrics: RingMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list:
        return []  # names are only known from the view; nothing to check at registration

    def collect(self) -> Iterator:
        v = self.metrics.view
        if not v:
            return
        yield CounterMetricFamily("ringemu_token_passes", "Free tokens and busy frames passed "
                                  "on by the stations (every hop of a token unit).",
                                  value=v["token_passes"])
        yield GaugeMetricFamily("ringemu_hop_rate", "Token passes per second over the last "
                                "quarter second.", value=v["hop_rate"])
        active = GaugeMetricFamily("ringemu_alarms_active", "Alarms raised and not cleared, "
                                   "by verdict.", labels=["verdict"])
        for verdict in ("LOST", "DUPLICATE", "INCOMPLETE"):
            active.add_metric([verdict], v["active"].get(verdict, 0))
        yield active
        yield GaugeMetricFamily("ringemu_epoch", "The ring's membership epoch.",
                                value=v["epoch"])
        yield GaugeMetricFamily("ringemu_ring_members", "Stations in the ring now.",
                                value=v["members"])
        yield GaugeMetricFamily("ringemu_up_seconds", "Seconds since the ring came up.",
                                value=v["up_seconds"])
        yield GaugeMetricFamily("ringemu_capture_readers", "Live capture readers "
                                "(ringemu capture) holding a lease.", value=v["readers"])
        yield CounterMetricFamily("ringemu_capture_copies", "Copies the stations offered to "
                                  "live capture readers.", value=v["copies"])
        yield CounterMetricFamily("ringemu_capture_dropped", "Of those, the copies dropped "
                                  "because a reader was behind.", value=v["copies_dropped"])
        alive = GaugeMetricFamily("ringemu_station_alive", "1 while the station's process is "
                                  "alive, else 0.", labels=["station"])
        for station, state, _ in v["stations"]:
            alive.add_metric([station], 1.0 if state == "alive" else 0.0)
        yield alive
        names = (*STATION_COUNTERS, "send_dropped", "tap_dropped")
        for name in names:
            family = CounterMetricFamily(f"ringemu_station_{name}",
                                         f"The station's {name.replace('_', ' ')} counter.",
                                         labels=["station"])
            for station, _, counters in v["stations"]:
                family.add_metric([station], counters[name])
            yield family
