"""``ringemu up``: launch a ring with its monitor and watch it until Ctrl-C or ``ringemu down``.

On a terminal it opens the dashboard; with ``--no-dashboard`` it prints a live text view, and
with ``--no-dashboard --json`` one JSON event per line (the monitor's event stream).
"""

from __future__ import annotations

import json
import sys
import time

import click

from ringemu.cli.options import build, check_outputs, ring_options
from ringemu.cli.signals import StopRequested, stop_on_signals
from ringemu.errors import ConfigError, RingFailed
from ringemu.live.client import RingUnreachable, follow
from ringemu.live.paths import read_events
from ringemu.live.launcher import LaunchError, LiveRing, RingConfig

QUIET_EVENTS = {"stations", "snapshot", "station_up", "fault_fired", "first_snapshot",
                "link_fault"}


@click.command()
@ring_options(live=True)
@click.option("--no-dashboard", is_flag=True, help="Print a text view instead of the dashboard.")
@click.option("--json", "as_json", is_flag=True,
              help="With --no-dashboard: print every event as one JSON object per line.")
def up(no_dashboard: bool, as_json: bool, **kw) -> int:
    """Launch a live ring of station processes and its snapshot monitor.

    Runs until Ctrl-C, or 'ringemu down' from another shell; every process it started is ended
    then. Inject faults from another shell with 'ringemu inject'. The run is recorded in
    runs/<id>/ (runs/latest links to it).
    """
    cfg = build(RingConfig, kw)
    check_outputs(cfg)
    use_dashboard = not no_dashboard and not as_json and sys.stdout.isatty()
    printed = [float("-inf")]
    failure: str | None = None
    with stop_on_signals(), LiveRing(cfg) as ring:
        try:
            info = ring.start()
            if use_dashboard:
                from ringemu.dashboard.app import run_dashboard

                run_dashboard(ring=ring)
            elif as_json:
                _json_stream(ring, printed)
            else:
                click.echo(f"ring {info.run_id}: {cfg.stations} stations up in "
                           f"{ring.up_s:.2f} s; records in {info.run_dir}")
                click.echo("inject faults with 'ringemu inject lose|dup|corrupt|kill|pause', "
                           "stop with Ctrl-C or 'ringemu down'")
                _text_view(ring)
        except (KeyboardInterrupt, StopRequested):
            pass
        except (LaunchError, RingUnreachable) as e:
            failure = f"the ring failed: {e}"
            ring.record_error(failure)  # the monitor cannot say it any more
        finally:
            ring.stop()
            if as_json:
                _json_tail(ring, printed[0])
    if failure is not None:
        raise RingFailed(failure)
    if not as_json:
        click.echo(f"ring stopped; records in {ring.run_dir}", err=use_dashboard)
    return 0


def _json_stream(ring: LiveRing, printed: list[float]) -> None:
    """Print every event as it comes; ``printed[0]`` keeps the time of the last one."""
    assert ring.info is not None
    for event in follow(ring.info.endpoints["events"], str(ring.run_dir / "events.jsonl"),
                        keys=ring.operator_keys):
        ring.poll_children()
        if event is not None:
            click.echo(json.dumps(event, separators=(",", ":")))
            printed[0] = max(printed[0], float(event.get("t", 0.0)))


def _json_tail(ring: LiveRing, after: float) -> None:
    """After the ring stopped: the recorded events the stream had not delivered yet."""
    try:
        events = read_events(ring.run_dir / "events.jsonl")
    except ConfigError:
        return
    for event in events:
        if float(event.get("t", 0.0)) > after:
            click.echo(json.dumps(event, separators=(",", ":")))


def _text_view(ring: LiveRing) -> None:
    stream = ring.events()
    last_line = 0.0
    try:
        while True:
            ring.poll_children()
            event = stream.get(0.25)
            if event is not None and event.get("event") not in QUIET_EVENTS:
                click.echo(describe(event))
            elif event is not None and event.get("event") == "snapshot" and \
                    event.get("verdict") not in ("OK", "RECOVERING"):
                click.echo(describe(event))
            if time.monotonic() - last_line >= 2.0:
                last_line = time.monotonic()
                status = ring.request({"cmd": "status"}, timeout=2.0)
                click.echo(status_line(status))
    finally:
        stream.close()


def status_line(s: dict) -> str:
    alarms = ", ".join(f"{a['kind']}@{a['station']}" if a.get("station") is not None
                       else a["kind"] for a in s.get("alarms", [])) or "none"
    states = s.get("station_states", {})
    down = [k for k, v in states.items() if v != "alive"]
    extra = f" | not alive: {', '.join(down)}" if down else ""
    if s.get("refused"):
        extra += f" | {s['refused']} connections refused"
    if s.get("cuts"):
        extra += " | cut: " + ", ".join(f"{a}\u2192{b}" for a, b in s["cuts"])
    if s.get("impairments"):
        extra += f" | {len(s['impairments'])} links impaired"
    return (f"[{s.get('up_s', 0):7.1f} s] snapshots {s.get('snapshots', 0)} "
            f"(last {s.get('last_verdict')}) | {s.get('hop_rate', 0):,.0f} hops/s | "
            f"alarms: {alarms}{extra}")


def describe(e: dict) -> str:
    """One line for a notable event."""
    kind = e.get("event")
    t = f"[{e.get('t', 0):7.2f} s]"
    if kind == "alarm":
        return (f"{t} ALARM {e['action'].upper()}: {e['kind']} (snapshot {e['snapshot']}"
                + (f", station {e['station']}" if e.get("station") is not None else "")
                + f") {e.get('detail', '')}")
    if kind == "inject":
        return f"{t} injected {e['fault']} at station {e['station']} (fault #{e['fault_id']})"
    if kind == "snapshot":
        if e.get("silent"):
            silent = ", ".join(map(str, e["silent"][:8])) + ("..." if len(e["silent"]) > 8 else "")
            return f"{t} snapshot {e['id']}: {e['verdict']} (no report from {silent})"
        return f"{t} snapshot {e['id']}: {e['verdict']} ({e.get('count')} tokens)"
    if kind in ("purge_request", "purge_started", "purge_done"):
        return f"{t} {kind.replace('_', ' ')} (station {e.get('station')})"
    if kind == "impairment":
        which = "every link" if e.get("station") is None else f"link {e['station']}"
        warning = f" (warning: {e['warning']})" if e.get("warning") else ""
        return f"{t} {which}: {e.get('text')}{warning}"
    if kind == "station_exit":
        return f"{t} station {e['station']} exited (status {e.get('status')})"
    rest = {k: v for k, v in e.items() if k not in ("event", "t")}
    return f"{t} {kind}: {json.dumps(rest)[:200]}"
