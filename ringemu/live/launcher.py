"""Launching a live ring and ending it, by every path.

``LiveRing`` forks the monitor, then N stations (each in its own process group, recorded in
``ring.json`` with pid and kernel start time), waits until the monitor says the ring is up, and
ends exactly those processes when it stops: on normal exit, Ctrl-C, SIGTERM (``ringemu down``),
an exception, or a crashed monitor. It is a context manager; use it with ``with``.

Forking happens before this process creates any ZeroMQ context (forking a live context is
unsafe); only afterwards does it open its own control client.

Over tcp it makes the run's CURVE keys first (``ringemu.live.keys``): each child gets its part
in memory, the tools find them in ``keys.json`` in the 0700 runtime folder. The launcher writes
``ring.json`` there right after forking; the monitor takes the pids it may signal from it.

With a ring spec (``ringemu.live.spec``) it starts only the parts that belong on this host
(``Parts``: the monitor, some stations, or both) at the spec's addresses, with the keys of the
spec's key folder; ``ring.json`` records the spec. Without the monitor here it has no control
client: it runs its stations until they end or it is told to stop.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ringemu.errors import ConfigError, RingemuError
from ringemu.live import monitor as monitor_mod
from ringemu.live.client import ControlClient, EventStream, RingUnreachable
from ringemu.live.counters import SharedCounters
from ringemu.live.keys import RunKeys
from ringemu.live.paths import (RingInfo, ensure_runtime_root, link_latest, new_run_id,
                                proc_start_time, runs_root, runtime_root)
from ringemu.live.procutil import end_groups, fork_child, fork_children, reap, startup_limit
from ringemu.live.spec import RingSpec
from ringemu.params import RingParams, check_finite
from stations import station as station_mod

log = logging.getLogger(__name__)


IPC_PATH_MAX = 107
"""The longest ipc socket path the kernel takes (``sockaddr_un.sun_path`` less its NUL)."""


class LaunchError(RingemuError):
    """The ring could not be brought up."""


class RingStopped(LaunchError):
    """A spec ring's monitor ended cleanly without this launcher asking (``ringemu down
    --spec`` from another host stopped the ring)."""


@dataclass(frozen=True)
class Parts:
    """The parts of a spec ring one launcher starts."""

    monitor: bool
    stations: tuple[int, ...]
    host: str | None = None
    """The spec's name of this host, when the parts are one host's."""

    def describe(self) -> str:
        what = (["the monitor"] if self.monitor else []) + (
            [f"station{'s' if len(self.stations) > 1 else ''} "
             + ", ".join(map(str, self.stations))] if self.stations else [])
        return " and ".join(what) or "nothing"


PINS = ("none", "one", "split")
"""The ``--pin`` placements (``RingConfig.pin``)."""


@dataclass
class RingConfig(RingParams):
    """A live ring: the ring's parameters and what only the launcher needs."""

    pin: str = "none"
    """CPU placement: ``none`` (the kernel's choice), ``one`` (every station on one CPU: a
    token hop then never has to wake a process on another CPU) or ``split`` (the stations on
    one CPU, the monitor on the others: what the stations pay for snapshots is then measured
    apart from the monitor's own work)."""
    pcap: str | None = None
    """Capture every frame; the merged capture goes to the run folder and to this path."""
    runs_dir: str | None = None
    restart: bool = False
    """Start a station whose process died again, ``restart_delay`` seconds later."""
    restart_delay: float = 0.5
    metrics_port: int | None = None
    """Serve Prometheus metrics on 127.0.0.1 at this port (the monitor process does)."""

    @property
    def capture(self) -> bool:
        return self.pcap is not None

    def validate(self) -> None:
        super().validate()
        if self.pin not in PINS:
            raise ConfigError(f"--pin must be one of {', '.join(PINS)}")
        check_finite("--restart-delay", self.restart_delay, 0.0, 3600.0)
        if self.metrics_port is not None and (type(self.metrics_port) is not int
                                              or not 1 <= self.metrics_port <= 65535):
            raise ConfigError("--metrics-port must be a port number 1..65535")


class LiveRing:
    """One running ring; see the module docstring."""

    def __init__(self, cfg: RingConfig, spec: RingSpec | None = None,
                 parts: Parts | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.spec = spec
        self.parts = parts if parts is not None else Parts(True, tuple(range(cfg.stations)))
        if spec is not None and cfg.transport != "tcp":
            raise ConfigError("a ring spec needs the tcp transport")
        self.run_id = new_run_id()
        self.runs = runs_root(cfg.runs_dir)
        self.run_dir = self.runs / self.run_id
        self.runtime_dir = runtime_root() / self.run_id
        self.records: list[dict] = []
        self.keys: RunKeys | None = None
        self.info: RingInfo | None = None
        self.client: ControlClient | None = None
        self.started = time.monotonic()
        self.up_s: float | None = None
        self.exits: dict[int, int] = {}
        self.restarts_due: dict[int, float] = {}
        """Stations to start again, and when."""
        self.report_endpoint = ""
        self.captured = 0
        self.counters: SharedCounters | None = None
        """Every station's token passes, shared with the ring (``ringemu.live.counters``)."""
        self._stopped = False
        self.on_forked: Callable[[RingInfo], None] | None = None
        """Called once every process is forked and recorded, before waiting for the ring."""

    # -- context manager ----------------------------------------------------------------------
    def __enter__(self) -> "LiveRing":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- start --------------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> RingInfo:
        """Launch and wait until the ring is up (first token issued)."""
        cfg = self.cfg
        names = ("control", "report", "events", f"ring-{cfg.stations - 1}",
                 f"cmd-{cfg.stations - 1}")
        longest = max((self.runtime_dir / n for n in names), key=lambda q: len(str(q)))
        if cfg.transport == "ipc" and len(str(longest)) > IPC_PATH_MAX:
            raise ConfigError(f"ipc socket paths under {self.runtime_dir.parent} would be too "
                              f"long ({len(str(longest))} > {IPC_PATH_MAX} characters); set "
                              "RINGEMU_RUNTIME to a shorter folder")
        ensure_runtime_root()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
            (self.run_dir / "stations").mkdir()
            self.runtime_dir.mkdir(exist_ok=False, mode=0o700)
            os.chmod(self.runtime_dir, 0o700)  # just made by us
        except OSError as e:
            raise ConfigError(f"cannot create run folders: {e}") from None
        self._link_latest()
        (self.run_dir / "config.json").write_text(json.dumps(
            {"run_id": self.run_id, **asdict(cfg), **cfg.to_json(),
             "launcher_pid": os.getpid()}, indent=1))
        if cfg.transport == "tcp" and self.spec is None:
            self.keys = RunKeys.generate(cfg.stations)
            self.keys.save(self.runtime_dir)
        # token passes shared in a page: only when every station is this host's child
        self.counters = SharedCounters(cfg.stations) if self.spec is None else None
        gc.freeze()  # children share the launcher's objects instead of copying them on first GC
        if self.parts.monitor:
            endpoints = self._fork_monitor()
        else:
            assert self.spec is not None
            endpoints = self.spec.monitor.endpoints()
        self._fork_stations(endpoints["report"])
        self.info = RingInfo(
            run_id=self.run_id, runtime_dir=str(self.runtime_dir), run_dir=str(self.run_dir),
            stations=cfg.stations, endpoints=endpoints,
            launcher={"pid": os.getpid(), "start_time": proc_start_time(os.getpid())},
            processes=self.records, started=time.time(),
            spec=None if self.spec is None else str(self.spec.path),
            host=self.parts.host,
        )
        self.info.save()
        if self.on_forked is not None:
            self.on_forked(self.info)
        if not self.parts.monitor:
            self.up_s = time.monotonic() - self.started
            return self.info
        self.client = ControlClient(endpoints["control"], keys=self.operator_keys)
        if timeout is None:
            timeout = (startup_limit(cfg.stations) + 1.0 if self.spec is None
                       else self.spec.startup_timeout + 5.0)
        self._wait_up(timeout)
        return self.info

    def _link_latest(self) -> None:
        link_latest(self.runs, self.run_id)

    def _fork_monitor(self) -> dict:
        cfg = self.cfg
        spec = self.spec
        mcfg = monitor_mod.MonitorConfig(
            params=cfg.ring_params(), runtime_dir=str(self.runtime_dir),
            run_dir=str(self.run_dir),
            keys=(spec.keys.for_monitor() if spec is not None
                  else None if self.keys is None else self.keys.for_monitor()),
            metrics_port=cfg.metrics_port,
            placement=None if spec is None else spec.placement(frozenset(self.parts.stations)),
            startup_timeout=0.0 if spec is None else spec.startup_timeout,
            counters=self.counters,
        )
        read_fd, write_fd = os.pipe()
        log_file = str(self.run_dir / "monitor.log")

        def target() -> int:
            os.close(read_fd)
            cpus = os.sched_getaffinity(0)
            if cfg.pin == "split" and len(cpus) > 1:
                os.sched_setaffinity(0, cpus - {min(cpus)})  # the stations get min(cpus)
            return monitor_mod.run(mcfg, write_fd, log_file)

        rec = fork_child(target, log_file)
        os.close(write_fd)
        self.records.append({"role": "monitor", "index": None, **rec})
        with os.fdopen(read_fd) as pipe:
            line = pipe.readline()
        if not line:
            status = self._wait_exit(rec["pid"], 1.0)
            raise LaunchError(f"the monitor failed to start (exit {status}); "
                              f"see {self.run_dir / 'monitor.log'}")
        endpoints = json.loads(line)
        if "error" in endpoints:
            self._wait_exit(rec["pid"], 1.0)
            raise LaunchError(f"the monitor could not start: {endpoints['error']}")
        return endpoints

    def _fork_stations(self, report_endpoint: str) -> None:
        if self.cfg.capture:
            import ringemu.frames.capture  # noqa: F401  - load scapy once, before forking
        self.report_endpoint = report_endpoint
        stations = list(self.parts.stations)
        params = self.cfg.ring_params()
        cfgs = [self._station_config(i, params) for i in stations]
        recs = fork_children([(lambda c=c: station_mod.run(c), c.log_file) for c in cfgs])
        self.records.extend({"role": "station", "index": i, **rec}
                            for i, rec in zip(stations, recs))

    def _station_config(self, i: int, params: RingParams) -> station_mod.StationConfig:
        cfg, spec = self.cfg, self.spec
        capture = None
        if cfg.capture:
            incarnation = sum(1 for r in self.records if r.get("index") == i)
            capture = str(self.runtime_dir / f"capture-{i}"
                          f"{'' if not incarnation else f'-{incarnation}'}.pcap")
        folder = f"{self.run_dir}/stations"
        return station_mod.StationConfig(
            index=i, params=params, monitor=self.report_endpoint,
            runtime_dir=str(self.runtime_dir),
            cpu=min(os.sched_getaffinity(0)) if cfg.pin in ("one", "split") else None,
            capture=capture, log_file=f"{folder}/station-{i}.log",
            keys=(spec.keys.for_station(i) if spec is not None
                  else None if self.keys is None else self.keys.for_station(i)),
            journal=f"{folder}/station-{i}.journal", counters=self.counters,
            placement=None if spec is None else spec.placement(frozenset(self.parts.stations)),
        )

    def _fork_station(self, i: int) -> dict:
        """Start station ``i``'s process again (a restart: it resumes from its journal) and
        record it."""
        scfg = self._station_config(i, self.cfg.ring_params())
        rec = {"role": "station", "index": i,
               **fork_child(lambda: station_mod.run(scfg), scfg.log_file)}
        self.records.append(rec)
        return rec

    def restart(self, i: int) -> bool:
        """Start dead station ``i`` again (its last process has exited); True when started.
        The new process is recorded in ``ring.json`` before it can say hello, so the monitor
        knows its pid from the launcher, never from the station."""
        latest = [r for r in self.records if r.get("index") == i and r["role"] == "station"]
        if self._stopped or not latest or latest[-1].get("exit") is None:
            return False
        self._fork_station(i)
        if self.info is not None:
            self.info.processes = self.records
            self.info.save()
        log.info("station %d started again", i)
        return True

    def _wait_up(self, timeout: float) -> None:
        assert self.client is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_monitor()
            if self.client.running():
                self.up_s = time.monotonic() - self.started
                return
            time.sleep(0.005)
        raise LaunchError(f"the ring did not come up within {timeout:.0f} s; "
                          f"see the logs in {self.run_dir}")

    def record_error(self, detail: str) -> dict:
        """Append an ``error`` event to the run's ``events.jsonl`` (the monitor is gone and
        cannot); returns it. Its ``t`` is seconds since this ring was launched."""
        event = {"event": "error", "t": round(time.monotonic() - self.started, 6),
                 "detail": detail}
        try:
            with open(self.run_dir / "events.jsonl", "a") as f:
                f.write(json.dumps(event) + "\n")
        except OSError as e:
            log.warning("cannot record the error: %s", e)
        return event

    # -- while running ------------------------------------------------------------------------
    def request(self, cmd: dict, timeout: float = 3.0) -> dict:
        if self.client is None:
            raise LaunchError("ring not started")
        return self.client.request(cmd, timeout)

    @property
    def operator_keys(self):
        """The tools' keys for this ring (None over ipc)."""
        if self.spec is not None:
            return self.spec.operator_keys()
        return None if self.keys is None else self.keys.for_operator()

    def events(self) -> EventStream:
        assert self.info is not None
        return EventStream(self.info.endpoints["events"], keys=self.operator_keys)

    def poll_children(self) -> list[tuple[int, int]]:
        """Reap stations that exited and tell the monitor; start again those due (``--restart``,
        or ``ringemu restart``); returns [(station, status)] of the exits."""
        self._check_monitor()
        gone = []
        now = time.monotonic()
        for r in list(self.records):
            if r["role"] != "station" or r.get("exit") is not None:
                continue
            status = reap(r["pid"])
            if status is not None:
                r["exit"] = status
                self.exits[r["index"]] = status
                gone.append((r["index"], status))
                if self.cfg.restart:
                    self.restarts_due[r["index"]] = now + self.cfg.restart_delay
                if self.client is None:
                    continue  # the monitor is on another host: it sees the goodbye or silence
                try:
                    self.request({"cmd": "station_exit", "station": r["index"],
                                  "status": status}, timeout=1.0)
                except RingUnreachable:
                    pass
        asked = []
        if self.client is not None:
            try:
                asked = self.request({"cmd": "restarts"}, timeout=1.0).get("stations") or []
            except RingUnreachable:
                pass
        for i in asked:
            if type(i) is int:
                self.restarts_due.setdefault(i, now)
        for i, at in list(self.restarts_due.items()):
            if now >= at:
                del self.restarts_due[i]
                self.restart(i)
        return gone

    def _check_monitor(self) -> None:
        if not self.parts.monitor:
            return
        rec = self.records[0]
        if rec.get("exit") is None:
            status = reap(rec["pid"])
            if status is not None:
                rec["exit"] = status
        if rec.get("exit") == 0 and self.spec is not None and not self._stopped:
            raise RingStopped("the ring was stopped (its monitor ended cleanly: 'ringemu down' "
                              "from another host)")
        if rec.get("exit") is not None:
            raise LaunchError(f"the monitor exited (status {rec['exit']}); "
                              f"see {self.run_dir / 'monitor.log'}")

    def stations_running(self) -> list[int]:
        """This launcher's stations whose process still runs (or will start again)."""
        running = {r["index"] for r in self.records
                   if r["role"] == "station" and r.get("exit") is None}
        return sorted(running | set(self.restarts_due))

    def _reap_all(self) -> bool:
        """Collect every child that exited; True when none is left running."""
        for r in self.records:
            if r.get("exit") is None:
                status = reap(r["pid"])
                if status is not None:
                    r["exit"] = status
        return all(r.get("exit") is not None for r in self.records)

    def _wait_exit(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = reap(pid)
            if status is not None:
                return status
            time.sleep(0.01)
        return None

    # -- stop -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """End every process this ring started, and only those. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        asked = False
        if self.client is not None and self.parts.monitor and self.records[0].get("exit") is None:
            try:
                self.request({"cmd": "stop"}, timeout=1.0)
                asked = True
            except (RingUnreachable, LaunchError):
                pass
        # stations and monitor leave on their own after "stop"; give them a moment
        deadline = time.monotonic() + (1.0 if asked else 0.0)
        while time.monotonic() < deadline and not self._reap_all():
            time.sleep(0.01)
        end_groups(self.records, grace=0.5)
        if self.cfg.capture:
            self._merge_captures()
        if self.info is not None:
            self.info.processes = self.records
            try:
                Path(self.run_dir, "ring.json").write_text(json.dumps(self.info.__dict__, indent=1))
            except OSError:
                pass
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _merge_captures(self) -> None:
        from ringemu.live.captures import merge_captures

        parts = sorted(self.runtime_dir.glob("capture-*.pcap"))
        if parts:
            merged = self.run_dir / "capture.pcap"
            self.captured = merge_captures(parts, merged)
            if self.cfg.pcap:
                shutil.copyfile(merged, self.cfg.pcap)
