"""``ringemu up``: launch a ring with its monitor and watch it until Ctrl-C or ``ringemu down``.

On a terminal it opens the dashboard; with ``--no-dashboard`` it prints a live text view, and
with ``--no-dashboard --json`` one JSON event per line (the monitor's event stream).

With ``--spec FILE`` it starts this host's parts of a ring across hosts (``ringemu.live.spec``),
or with ``--ssh`` every host's over ssh (``ringemu.live.remote``); ``ringemu station`` and
``ringemu monitor`` start one part. A host without the monitor shows only its own stations.
"""

from __future__ import annotations

import json
import sys
import time

import click

from ringemu.cli.options import build, check_outputs, check_port_free, ring_options
from ringemu.cli.signals import StopRequested, stop_on_signals
from ringemu.errors import ConfigError, RingFailed
from ringemu.live.client import RingUnreachable, follow
from ringemu.live.paths import read_events
from ringemu.live.launcher import LaunchError, LiveRing, RingConfig, RingStopped
from ringemu.live.remote import LaunchFailed

QUIET_EVENTS = {"stations", "snapshot", "station_up", "fault_fired", "first_snapshot",
                "link_fault"}


@click.command()
@ring_options(live=True)
@click.option("--no-dashboard", is_flag=True, help="Print a text view instead of the dashboard.")
@click.option("--json", "as_json", is_flag=True,
              help="With --no-dashboard: print every event as one JSON object per line.")
@click.option("--web", is_flag=True,
              help="Serve the dashboard to a browser instead (textual-serve); prints the "
                   "address to open, with the ring's token in it.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="With --web: the port to listen on (default 8000).")
@click.option("--bind", default=None, metavar="ADDR",
              help="With --web: the address to listen on (default 127.0.0.1).")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Start this host's parts of the ring FILE describes ('ringemu spec'): its "
                   "monitor and stations, at the spec's addresses, with its keys. The ring's "
                   "options come from the spec.")
@click.option("--host", metavar="NAME",
              help="With --spec: start the parts of this host of the spec (default: every host "
                   "whose address is this machine's).")
@click.option("--ssh", is_flag=True,
              help="With --spec: start every host's parts over ssh from here (the system's ssh "
                   "with your own keys and config) and watch the ring from here.")
@click.option("--remote", is_flag=True, hidden=True,
              help="Run as one host's launcher of 'up --ssh': records and events as JSON lines "
                   "on stdout, stop when stdin ends.")
@click.pass_context
def up(ctx: click.Context, no_dashboard: bool, as_json: bool, web: bool, port: int | None,
       bind: str | None, spec_file: str | None, host: str | None, ssh: bool, remote: bool,
       **kw) -> int:
    """Launch a live ring of station processes and its snapshot monitor.

    Runs until Ctrl-C, or 'ringemu down' from another shell; every process it started is ended
    then. Inject faults from another shell with 'ringemu inject'. The run is recorded in
    runs/<id>/ (runs/latest links to it). With --spec, a ring across hosts: see 'ringemu spec'.
    """
    if not web and (port is not None or bind is not None):
        raise click.UsageError("--port and --bind are for --web")
    if web and (no_dashboard or as_json or remote):
        raise click.UsageError("--web serves the dashboard; it goes without --no-dashboard "
                               "and --json")
    web_at = None
    if web:
        from ringemu.webview import check_host

        bind = check_host(bind or "127.0.0.1")
        port = 8000 if port is None else port
        check_port_free(port, "--port", bind)
        web_at = (bind, port)
    if spec_file is None:
        if host or ssh or remote:
            raise click.UsageError("--host, --ssh and --remote need --spec")
        cfg = build(RingConfig, kw)
        check_outputs(cfg)
        return serve(LiveRing(cfg), no_dashboard, as_json, web=web_at)
    from ringemu.cli.spec_run import load, parts_for, spec_config

    if ssh and (host or remote):
        raise click.UsageError("--ssh starts every host's parts: no --host or --remote with it")
    spec = load(spec_file)
    cfg = spec_config(ctx, spec, kw)
    check_outputs(cfg)
    if ssh:
        from ringemu.live.remote import SshRing

        if cfg.pcap:
            raise click.UsageError("--pcap with --ssh: each host's stations capture on their "
                                   "own host; start that host with 'up --spec' to capture")
        spec.check_keys(False, [], operator=True)

        return serve(SshRing(spec, cfg.runs_dir), no_dashboard, as_json, web=web_at)
    parts = parts_for(spec, host)
    return serve(LiveRing(cfg, spec, parts), no_dashboard, as_json or remote, remote=remote,
                 web=web_at)


def serve(ring, no_dashboard: bool, as_json: bool, remote: bool = False,
          web: tuple[str, int] | None = None) -> int:
    """Start ``ring`` (a ``LiveRing``, or an ``SshRing``), show it until it ends or is asked
    to stop, and end it. A ring without its monitor on this host shows its own stations;
    ``web`` (address, port) serves the dashboard to browsers instead of this terminal."""
    from ringemu.cli.spec_run import parts_view, remote_launcher

    has_monitor = getattr(ring, "parts", None) is None or ring.parts.monitor
    use_dashboard = (web is None and not no_dashboard and not as_json and sys.stdout.isatty()
                     and has_monitor)
    printed = [float("-inf")]
    failure: str | None = None
    ended: str | None = None
    with stop_on_signals(), ring:
        try:
            if remote:
                remote_launcher(ring)
            info = ring.start()
            if not has_monitor:
                parts_view(ring, quiet=remote or as_json)
            elif web is not None:
                failure = _serve_web(ring, *web)
            elif use_dashboard:
                from ringemu.dashboard.app import run_dashboard

                run_dashboard(ring=ring)
            elif as_json:
                _json_stream(ring, printed)
            else:
                click.echo(f"ring {info.run_id}: {info.stations} stations up in "
                           f"{ring.up_s:.2f} s; records in {info.run_dir}")
                click.echo("inject faults with 'ringemu inject lose|dup|corrupt|kill|pause', "
                           "stop with Ctrl-C or 'ringemu down'")
                _text_view(ring)
        except (KeyboardInterrupt, StopRequested):
            pass
        except RingStopped as e:
            ended = str(e)
        except (LaunchError, LaunchFailed, RingUnreachable) as e:
            failure = f"the ring failed: {e}"
        finally:
            if failure is not None:
                ring.record_error(failure)  # the monitor cannot say it any more
            ring.stop()
            if as_json and has_monitor and not remote:
                _json_tail(ring, printed[0])
    if failure is not None:
        raise RingFailed(failure)
    if not as_json:
        click.echo(f"{ended or 'ring stopped'}; records in {ring.run_dir}", err=use_dashboard)
    return 0


def _serve_web(ring: LiveRing, host: str, port: int) -> str | None:
    """Serve the dashboard to browsers until Ctrl-C or SIGTERM; the reason the ring failed,
    if it did (None otherwise)."""
    from ringemu.webview import WebDashboard

    assert ring.info is not None
    server = WebDashboard(ring.info, host, port, log_file=ring.run_dir / "web.log")
    cfg = ring.cfg
    click.echo(f"ring {ring.run_id}: {cfg.stations} stations up in {ring.up_s:.2f} s; "
               f"records in {ring.run_dir}")
    if getattr(cfg, "metrics_port", None) is not None:
        click.echo(f"metrics at http://127.0.0.1:{cfg.metrics_port}/metrics")

    def ready() -> None:
        click.echo(f"dashboard at {server.url}")
        click.echo("open it in a browser (each tab is its own dashboard; q there detaches "
                   "it); stop the ring with Ctrl-C here or 'ringemu down'")
        sys.stdout.flush()

    def check() -> str | None:
        try:
            ring.poll_children()
        except (LaunchError, RingUnreachable) as e:
            return f"the ring failed: {e}"
        return None

    return server.run(check, ready=ready)


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
