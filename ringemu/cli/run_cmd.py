"""``ringemu run``: a headless, scripted live run for CI and experiments.

Launches the ring, injects the scripted faults at their times (seconds after the ring is up),
stops after ``--duration`` and judges the run exactly as ``ringemu sim`` does: same summary keys,
latencies in milliseconds, exit 0 valid / 1 invalid / 2 unknown.
"""

from __future__ import annotations

import json
import random
import sys
import time

import click

from ringemu.cli.options import Finite, build, check_outputs, ring_options
from ringemu.cli.progress import Progress
from ringemu.cli.scenario import explain, finish, scenario_option
from ringemu.cli.signals import StopRequested, stop_on_signals
from ringemu.errors import ConfigError, RingFailed
from ringemu.faults import (ACTIVE_MONITOR, FaultSchedule, Shell, help_lines, parse_fault,
                            parse_kinds)
from ringemu.faults import chaos as chaos_faults
from ringemu.live.client import RingUnreachable
from ringemu.live.launcher import LaunchError, LiveRing, RingConfig
from ringemu.summary import exit_code, human_lines

_KINDS_HELP = "; ".join(help_lines(Shell.LIVE))


@click.command()
@scenario_option(Shell.LIVE)
@ring_options(live=True)
@click.option("--duration", "-d", type=Finite(0, 86400 * 365, lo_open=True), required=True,
              help="Seconds to run once the ring is up.")
@click.option("--inject", "injects", multiple=True, metavar="KIND@SECONDS[:STATION[:ARG]]",
              help=f"Inject a fault at SECONDS after the ring is up (repeatable). {_KINDS_HELP}. "
                   "pause takes its length as a third field: pause@5:3:0.5. STATION 'am' aims "
                   "at the active monitor of the moment (kill@5:am).")
@click.option("--drain", type=Finite(0, 60), default=None, metavar="SECONDS",
              help="After --duration, stop new traffic and keep the ring running until every "
                   "payload on its way is delivered and two more snapshots complete (at most "
                   "this long, default 3 s), so faults and payloads near the end are judged.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def run(duration: float, injects: tuple[str, ...], drain: float | None, chaos: float,
        chaos_kinds: str | None, as_json: bool, **kw) -> int:
    """Run a live ring headless for a fixed time, with scripted faults, and judge it.

    Exit status: 0 valid, 1 invalid (a missed fault, a wrong count or a false alarm), 2 unknown
    (a fault no verdict could show, or an injection the ring refused) or a bad command line,
    3 the ring itself failed (its monitor died).
    """
    ctx = click.get_current_context()
    try:
        cfg = build(RingConfig, kw)
        specs = [parse_fault(s, Shell.LIVE, "seconds") for s in injects]
        for spec in specs:
            if isinstance(spec.station, int) and not 0 <= spec.station < cfg.stations:
                raise ConfigError(f"--inject {spec}: no station {spec.station} "
                                  f"(stations are 0..{cfg.stations - 1})")
            if spec.at > duration:
                raise ConfigError(f"--inject {spec}: after the end of the run ({duration:g} s)")
        kinds = None if chaos_kinds is None else parse_kinds(chaos_kinds, Shell.LIVE)
    except ConfigError as e:
        raise explain(ctx, e) from None
    specs += chaos_faults(chaos, duration, Shell.LIVE, random.Random(f"ringemu-chaos/{cfg.seed}"),
                          kinds=kinds)
    check_outputs(cfg)
    schedule = FaultSchedule(specs)
    progress = Progress(duration, enabled=sys.stderr.isatty() and not as_json)
    data: dict = {}
    with stop_on_signals(), LiveRing(cfg) as ring:
        try:
            info = ring.start()
            _drive(ring, schedule, duration, progress, info.run_id)
            _drain(ring, 3.0 if drain is None else drain)
            ring.poll_children()
            data = ring.request({"cmd": "summary", "final": True}, timeout=5.0)
        except (KeyboardInterrupt, StopRequested):
            progress.clear()
            ring.stop()
            click.echo("ringemu run: interrupted; nothing judged", err=True)
            return 130
        except (LaunchError, RingUnreachable) as e:
            progress.clear()
            ring.stop()
            raise RingFailed(f"the ring failed: {e}") from None
        finally:
            progress.clear()
            ring.stop()
    data.pop("ok", None)
    refused = data.get("refused", [])
    data.update(run_id=ring.run_id, run_dir=str(ring.run_dir), seed=cfg.seed,
                startup_to_up_s=round(ring.up_s or 0.0, 4), refused=refused)
    if cfg.pcap:
        data.update(pcap=cfg.pcap, captured=ring.captured)
    (ring.run_dir / "summary.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        click.echo(f"ringemu run {ring.run_id}: {cfg.stations} stations for "
                   f"{data['duration_s']:g} s, records in {ring.run_dir}")
        click.echo(f"traffic    {data['token_passes']:,} token passes "
                   f"({data['hop_rate']:,.0f}/s), {data['snapshots_per_s']:g} snapshots/s, "
                   f"{data['purges']} purges, {data['malformed']} malformed dropped")
        for r in refused:
            click.echo(f"REFUSED    inject {r['spec']}: {r['error']}")
        for line in human_lines(data, "detection_latency_ms", "ms"):
            click.echo(line)
    met = finish(ctx, data, _event_counts(ring.run_dir / "events.jsonl"),
                 [(f["spec"], f["detection_latency_ms"]) for f in data["faults"]
                  if f["detected"]], "run")
    return exit_code(data["valid"]) if met is None else met


def _event_counts(path) -> dict[str, int]:
    """How many events of each kind the run recorded."""
    from collections import Counter

    from ringemu.live.paths import read_events

    return dict(Counter(str(e.get("event")) for e in read_events(path)))


def _drive(ring: LiveRing, schedule: FaultSchedule, duration: float, progress: Progress,
           run_id: str) -> None:
    """Hand the schedule to the monitor (it injects each fault on time from its own loop, so
    faults meant milliseconds apart are not stretched by round trips), then run for
    ``duration`` seconds."""
    t_up = time.monotonic()
    if len(schedule):
        ring.request({"cmd": "schedule", "faults": [
            {"kind": f.kind.value, "station": None if f.station == ACTIVE_MONITOR else f.station,
             "active_monitor": f.station == ACTIVE_MONITOR, "arg": f.arg, "at": f.at}
            for f in schedule.pending]})
    while True:
        elapsed = time.monotonic() - t_up
        if elapsed >= duration:
            return
        ring.poll_children()
        if progress.due(elapsed):
            st = ring.request({"cmd": "status"})
            progress.show(elapsed, f"run {run_id}: {st['snapshots']} snapshots, "
                          f"{st['hop_rate']:,.0f} hops/s, {len(st['alarms'])} alarms raised, "
                          f"{st['injections_refused']} injections refused")
        time.sleep(max(0.0, min(0.1, duration - elapsed)))


def _drain(ring: LiveRing, limit: float) -> None:
    """Stop new payloads, then wait until those on their way are delivered and two more
    snapshots complete (at most ``limit`` seconds)."""
    if limit <= 0:
        return
    ring.request({"cmd": "drain"})
    deadline = time.monotonic() + limit
    start = ring.request({"cmd": "status"})["snapshots"]
    while time.monotonic() < deadline:
        ring.poll_children()
        st = ring.request({"cmd": "status"})
        if st["snapshots"] >= start + 2 and st["payloads_in_flight"] == 0:
            return
        time.sleep(0.02)
