"""``ringemu run``: a headless, scripted live run for CI and experiments.

Launches the ring, injects the scripted faults at their times (seconds after the ring is up),
stops after ``--duration`` and judges the run exactly as ``ringemu sim`` does: same summary keys,
latencies in milliseconds, exit 0 valid / 1 invalid / 2 unknown.
"""

from __future__ import annotations

import json
import sys
import time

import click

from ringemu.cli.options import Finite, build, ring_options
from ringemu.cli.signals import StopRequested, stop_on_signals
from ringemu.errors import ConfigError
from ringemu.faults import FaultSchedule, Shell, help_lines, parse_fault
from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.summary import exit_code, human_lines

_KINDS_HELP = "; ".join(help_lines(Shell.LIVE))


@click.command()
@ring_options(live=True)
@click.option("--duration", "-d", type=Finite(0, 86400 * 365, lo_open=True), required=True,
              help="Seconds to run once the ring is up.")
@click.option("--inject", "injects", multiple=True, metavar="KIND@SECONDS[:STATION[:ARG]]",
              help=f"Inject a fault at SECONDS after the ring is up (repeatable). {_KINDS_HELP}. "
                   "pause takes its length as a third field: pause@5:3:0.5.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def run(duration: float, injects: tuple[str, ...], as_json: bool, **kw) -> int:
    """Run a live ring headless for a fixed time, with scripted faults, and judge it."""
    cfg = build(RingConfig, kw)
    specs = [parse_fault(s, Shell.LIVE, "seconds") for s in injects]
    for spec in specs:
        if spec.station is not None and not 0 <= spec.station < cfg.stations:
            raise ConfigError(f"--inject {spec}: no station {spec.station} "
                              f"(stations are 0..{cfg.stations - 1})")
        if spec.at > duration:
            raise ConfigError(f"--inject {spec}: after the end of the run ({duration:g} s)")
    schedule = FaultSchedule(specs)
    show_progress = sys.stderr.isatty()
    data: dict = {}
    with stop_on_signals(), LiveRing(cfg) as ring:
        interrupted = False
        try:
            info = ring.start()
            t_up = time.monotonic()
            next_progress = 0.0
            while True:
                elapsed = time.monotonic() - t_up
                if elapsed >= duration:
                    break
                for spec in schedule.due(elapsed):
                    reply = ring.request({"cmd": "inject", "kind": spec.kind.value,
                                          "station": spec.station, "arg": spec.arg,
                                          "at": spec.at})
                    if not reply.get("ok"):
                        click.echo(f"ringemu run: inject {spec} refused: {reply.get('error')}",
                                   err=True)
                ring.poll_children()
                if show_progress and elapsed >= next_progress:
                    next_progress = elapsed + 1.0
                    st = ring.request({"cmd": "status"})
                    click.echo(f"\rrun {info.run_id}: {elapsed:5.1f}/{duration:g} s, "
                               f"{st['snapshots']} snapshots, {st['hop_rate']:,.0f} hops/s, "
                               f"alarms {len(st['alarms'])}   ", err=True, nl=False)
                upcoming = schedule.next_at()
                wake = duration if upcoming is None else min(duration, upcoming)
                time.sleep(max(0.0, min(0.1, wake - elapsed)))
            ring.poll_children()
            data = ring.request({"cmd": "summary"}, timeout=5.0)
        except (KeyboardInterrupt, StopRequested):
            interrupted = True
        finally:
            if show_progress:
                click.echo("\r\033[K", err=True, nl=False)
            ring.stop()
        if interrupted:
            click.echo("ringemu run: interrupted; nothing judged", err=True)
            return 130
    data.pop("ok", None)
    data.update(run_id=ring.run_id, run_dir=str(ring.run_dir), seed=cfg.seed,
                startup_to_up_s=round(ring.up_s or 0.0, 4))
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
        for line in human_lines(data, "detection_latency_ms", "ms"):
            click.echo(line)
    return exit_code(data["valid"])
