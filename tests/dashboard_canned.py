"""Canned input for the dashboard tests: a source that hands over given events and records the
commands the keys send, and builders for the monitor's events (``docs/events.md``).

Shared by ``test_dashboard`` and ``test_dashboard_snapshots``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ringemu.dashboard.source import Sink, Source

N = 6


class CannedSource(Source):
    """For tests: canned events, handed over on ``open`` and by ``feed``; commands recorded."""

    def __init__(self, events: Iterable[dict] = (), *, owns_ring: bool = False,
                 commands: bool = True, label: str = "canned ring",
                 replies: dict[str, dict] | None = None) -> None:
        super().__init__()
        self.replies = replies or {}
        """A canned reply per ``cmd`` (e.g. a refusal), instead of the default ``ok``."""
        self.initial = list(events)
        self.owns_ring = owns_ring
        self.commands = commands
        self.label = label
        self.sent: list[dict] = []
        self.closed = False
        self.opened = False

    def open(self, sink: Sink) -> None:
        super().open(sink)
        self.opened = True
        if self.initial:
            sink(list(self.initial))

    def feed(self, events: Iterable[dict]) -> None:
        """Hand ``events`` over as one batch (call after the app is mounted)."""
        if not self.opened:
            raise RuntimeError("the app has not opened this source yet")
        self.sink(list(events))

    def send(self, cmd: dict) -> dict:
        self.sent.append(cmd)
        if cmd.get("cmd") in self.replies:
            return self.replies[cmd["cmd"]]
        if cmd.get("cmd") == "inject":
            return {"ok": True, "fault_id": len(self.sent), "station": cmd.get("station"),
                    "kind": cmd.get("kind")}
        if cmd.get("cmd") == "snapshot":
            return {"ok": True, "sid": len(self.sent)}
        return {"ok": True}

    def close(self) -> None:
        self.closed = True


def ring_up(n: int = N, active_monitor: int = 0) -> list[dict]:
    return ([{"event": "ring_starting", "stations": n, "endpoints": {}, "t": 0.001}]
            + [{"event": "station_up", "station": i, "pid": 4000 + i, "endpoint": "", "t": 0.01}
               for i in range(n)]
            + [{"event": "ring_up", "stations": n, "startup_s": 0.05,
                "pids": [4000 + i for i in range(n)], "active_monitor": active_monitor,
                "t": 0.05}])


def stations(n: int = N, t: float = 1.0, tokens: int = 1000, states: dict | None = None,
             modes: dict | None = None, alarms: list | None = None, hop_rate: float = 12000.0,
             dropped: dict | None = None) -> dict:
    states, modes, dropped = states or {}, modes or {}, dropped or {}
    rows = [{"station": i, "pid": None if states.get(i) == "dead" else 4000 + i,
             "state": states.get(i, "alive"),
             "mode": modes.get(i, "idle"),
             "stats": {"tokens": tokens + i, "frames": tokens // 2, "markers": 5, "sent": 40 + i,
                       "delivered": 39 + i, "acked": 40, "unacked": 0,
                       "malformed": 1 if dropped.get(i) else 0, "dropped": dropped.get(i, 0),
                       "absorbed": 0, "orphans": 0, "purges": 0},
             "send_dropped": 0, "queue": 0} for i in range(n)]
    return {"event": "stations", "stations": rows, "token_passes": tokens * n,
            "hop_rate": hop_rate, "snapshots": 10, "alarms": alarms or [], "t": t}


def snapshot(sid: int, t: float, n: int = N, count: int | None = 1, verdict: str = "OK",
             in_transit: list | None = None, held: dict | None = None,
             members: list[int] | None = None, epoch: int = 0, **extra) -> dict:
    """A snapshot of ``members`` (default: all ``n`` stations, in epoch ``epoch``)."""
    members = list(range(n)) if members is None else members
    if in_transit is None and count == 1 and not held:
        k = sid % len(members)
        in_transit = [{"from": members[k], "to": members[(k + 1) % len(members)],
                       "kind": "token"}]
    return {"event": "snapshot", "id": sid, "initiator": members[sid % len(members)], "t": t,
            "started": t - 0.0015, "duration_ms": 1.5, "verdict": verdict, "count": count,
            "held": held or {}, "in_transit": in_transit or [],
            "states": {str(i): {"mode": "idle", "tokens": 0, "purges": 0, "at": t - 0.001,
                                "step": 100 + sid, "epoch": epoch, "queue": []}
                       for i in members},
            "silent": [], "suspect": None, "stale": False, "cause": None, **extra}


def alarm(action: str, kind: str = "LOST", aid: int = 1, sid: int = 12, t: float = 2.4,
          station: int | None = None, raised_by: int | None = None) -> dict:
    return {"event": "alarm", "action": action, "alarm": aid, "kind": kind, "snapshot": sid,
            "raised_by": raised_by if raised_by is not None else sid, "t": t, "station": station,
            "detail": f"snapshot {raised_by or sid} counted 0 tokens"}


def healthy_events(n: int = N) -> list[dict]:
    """A ring up for two seconds: snapshots every 0.2 s, stations every 0.25 s."""
    events = ring_up(n)
    for k in range(10):
        events.append(snapshot(k, 0.1 + 0.2 * k, n))
        events.append(stations(n, t=0.2 + 0.2 * k, tokens=1000 + 300 * k,
                               hop_rate=11000.0 + 150 * (k % 4)))
    events.append(snapshot(10, 2.1, n, in_transit=[
        {"from": 3 % n, "to": 4 % n, "kind": "frame", "src": 2, "dst": 0, "seq": 77}]))
    events.append(stations(n, t=2.2, tokens=4300, modes={2: "awaiting"}))
    return events


def alarmed_events(n: int = N) -> list[dict]:
    """Healthy, then a lost token (raised, not yet cleared) and a paused station."""
    return healthy_events(n) + [
        {"event": "inject", "fault": "lose", "station": 1, "fault_id": 1, "arg": None,
         "scheduled": None, "t": 2.3},
        {"event": "fault_fired", "station": 1, "fault": "lose", "effect": -1, "fault_id": 1,
         "t": 2.3},
        snapshot(11, 2.4, n, count=0, verdict="LOST"),
        alarm("raised", "LOST", 1, 11, 2.4),
        {"event": "purge_request", "station": 0, "snapshot": 11, "t": 2.4},
        {"event": "inject", "fault": "pause", "station": 4, "fault_id": 2, "arg": 2.0,
         "scheduled": None, "t": 2.45},
        stations(n, t=2.5, tokens=4400, states={4: "paused"}, alarms=["LOST"], hop_rate=0.0),
    ]


def membership(epoch: int, members: list[int], bypassed: list[int], t: float,
               reason: str = "bypass", active_monitor: int | None = 0) -> dict:
    return {"event": "membership", "t": t, "epoch": epoch, "members": members,
            "active_monitor": active_monitor, "reason": reason, "bypassed": bypassed}


def killed_events(n: int = N, victim: int = 3, t: float = 2.3) -> list[dict]:
    """Healthy, then ``victim`` killed: an INCOMPLETE snapshot names it, an alarm is raised."""
    return healthy_events(n) + [
        {"event": "inject", "fault": "kill", "station": victim, "fault_id": 1, "arg": None,
         "scheduled": None, "t": t},
        {"event": "fault_fired", "station": victim, "fault": "kill", "effect": None,
         "fault_id": 1, "step": None, "t": t},
        {"event": "station_exit", "station": victim, "status": -9, "pid": 4000 + victim,
         "t": t + 0.01},
        {**snapshot(11, t + 0.1, n, count=None, verdict="INCOMPLETE"), "silent": [victim],
         "suspect": victim, "cause": "down"},
        {"event": "alarm", "action": "raised", "alarm": 1, "kind": "INCOMPLETE", "snapshot": 11,
         "raised_by": 11, "t": t + 0.1, "station": victim,
         "detail": f"no report from station {victim}: it is down (dead or stopped)"},
    ]


def healed_events(n: int = N, victim: int = 3) -> list[dict]:
    """``victim`` killed, then bypassed: the ring of epoch 1 runs without it, steady, and the
    INCOMPLETE alarm is cleared (as the simulator's run of ``kill@10:3`` goes)."""
    members = [k for k in range(n) if k != victim]
    events = killed_events(n, victim) + [
        membership(1, members, [victim], 2.4),
        {"event": "purge_started", "station": 0, "number": 1, "t": 2.41},
        {"event": "purge_done", "station": 0, "number": 1, "t": 2.45},
        {"event": "steady", "epoch": 1, "t": 2.45},
        snapshot(12, 2.5, n, members=members, epoch=1),
        {"event": "alarm", "action": "cleared", "alarm": 1, "kind": "INCOMPLETE",
         "snapshot": 12, "raised_by": 11, "t": 2.5, "station": victim, "detail": ""},
        stations(n, t=2.55, tokens=4500, states={victim: "dead"}),
    ]
    for k in range(4):
        events.append(snapshot(13 + k, 2.7 + 0.2 * k, n, members=members, epoch=1))
        events.append(stations(n, t=2.8 + 0.2 * k, tokens=4600 + 300 * k,
                               states={victim: "dead"}))
    return events


def by_tick(events: list[dict]) -> list[list[dict]]:
    """``events`` cut after each ``stations`` event: what one repaint tick of a live ring sees
    (the ring reports its stations at about the rate the dashboard drains its inbox)."""
    ticks: list[list[dict]] = [[]]
    for e in events:
        ticks[-1].append(e)
        if e["event"] == "stations":
            ticks.append([])
    return [t for t in ticks if t]
