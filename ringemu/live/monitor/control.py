"""The monitor's control requests: one handler per request type, in one table.

A request arrives on the control socket (``ringemu inject``, ``status``, the dashboard, the
launcher), is decoded into its typed class by ``protocol.decode_request`` and handed to the
handler registered for that class. A handler returns the reply, or None when the reply comes
later (``summary`` waits for fresh station counters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ringemu.live import protocol as p

if TYPE_CHECKING:
    from ringemu.live.monitor.process import MonitorProcess

Handler = Callable[["MonitorProcess", p.Request, list[bytes]], dict | None]
HANDLERS: dict[type[p.Request], Handler] = {}


def handles(cls: type[p.Request]) -> Callable[[Handler], Handler]:
    def register(f: Handler) -> Handler:
        HANDLERS[cls] = f
        return f
    return register


@handles(p.InjectRequest)
def inject(m: MonitorProcess, req: p.InjectRequest, envelope: list[bytes]) -> dict:
    return m.faults.inject(req.kind, req.station, req.arg, req.at)


@handles(p.SnapshotRequest)
def snapshot(m: MonitorProcess, req: p.SnapshotRequest, envelope: list[bytes]) -> dict:
    if not m.running_ring():
        return p.reply(False, "ring is not up yet")
    if req.station is not None and req.station not in m.supervisor.ring.members:
        return p.reply(False, f"station {req.station} is not in the ring")
    sid = m.begin_snapshot(m.now(), req.station)
    if sid is None:
        return p.reply(False, "the ring is being rebuilt or recovered; try again in a moment")
    return p.reply(sid=sid)


@handles(p.StatusRequest)
def status(m: MonitorProcess, req: p.StatusRequest, envelope: list[bytes]) -> dict:
    return p.reply(**m.status())


@handles(p.SummaryRequest)
def summary(m: MonitorProcess, req: p.SummaryRequest, envelope: list[bytes]) -> None:
    m.ask_summary(envelope, req.final)
    return None


@handles(p.DrainRequest)
def drain(m: MonitorProcess, req: p.DrainRequest, envelope: list[bytes]) -> dict:
    for st in m.stations:
        m.command(st, p.StopTraffic())
    return p.reply()


@handles(p.StationExit)
def station_exit(m: MonitorProcess, req: p.StationExit, envelope: list[bytes]) -> dict:
    st = m.stations.get(req.station)
    if st is None:
        return p.reply(False, f"no station {req.station}")
    m.history.station_exit(m.now(), st.index, req.status, st.pid)
    m.station_dead(st)
    return p.reply()


@handles(p.SendRequest)
def send(m: MonitorProcess, req: p.SendRequest, envelope: list[bytes]) -> dict:
    st = m.stations.get(req.src)
    if st is None or m.stations.get(req.dst) is None or req.src == req.dst:
        return p.reply(False, f"cannot send from {req.src} to {req.dst}")
    if req.size is not None and not 0 <= req.size <= 4096:
        return p.reply(False, "size must be 0..4096")
    return p.reply(m.command(st, p.Send(req.dst, req.payload, req.size)))


@handles(p.StopRequest)
def stop(m: MonitorProcess, req: p.StopRequest, envelope: list[bytes]) -> dict:
    m.stop()
    return p.reply()


@handles(p.Ping)
def ping(m: MonitorProcess, req: p.Ping, envelope: list[bytes]) -> dict:
    return p.reply(phase=m.phase.value)


@handles(p.IntervalRequest)
def interval(m: MonitorProcess, req: p.IntervalRequest, envelope: list[bytes]) -> dict:
    if not 0 <= req.seconds <= 3600:
        return p.reply(False, "interval must be 0..3600 seconds (0: snapshots off)")
    m.supervisor.set_interval(req.seconds, m.now())  # it records the change in the history
    return p.reply(seconds=req.seconds)


@handles(p.RestartRequest)
def restart(m: MonitorProcess, req: p.RestartRequest, envelope: list[bytes]) -> dict:
    why = m.want_restart(req.station)
    return p.reply(False, why) if why else p.reply(station=req.station)


@handles(p.RestartsRequest)
def restarts(m: MonitorProcess, req: p.RestartsRequest, envelope: list[bytes]) -> dict:
    return p.reply(stations=sorted(m.restart_wanted))


def handle(m: MonitorProcess, data: bytes, envelope: list[bytes]) -> dict | None:
    """Decode and answer one request; a malformed one gets an error reply, never a crash."""
    try:
        req = p.decode_request(data)
    except p.RemoteProtocolError as e:
        m.bad_requests += 1
        return p.reply(False, str(e))
    return HANDLERS[type(req)](m, req, envelope)
