"""``ringemu sim``: run the deterministic simulator and judge the run.

Stdout is the result and is the same, byte for byte, for the same arguments: the human summary,
or with ``--json`` a JSON object on the last line. Wall-clock figures (simulated hops per second)
go to stderr, because they differ from run to run.
"""

from __future__ import annotations

import json
import sys
import time

import click

from ringemu.errors import ConfigError
from ringemu.faults import FAULT_HELP, SIM_KINDS, parse_fault
from ringemu.report import exit_code, human_lines, summary
from ringemu.sim.ring import RingSim, SimConfig, SimOutcome

_KINDS_HELP = "; ".join(f"{k}: {FAULT_HELP[k]}" for k in SIM_KINDS)


@click.command()
@click.option("--stations", "-n", type=click.IntRange(2, 100_000), default=8, show_default=True,
              help="Stations in the ring.")
@click.option("--rotations", "-r", type=click.FloatRange(min=0, min_open=True), default=100,
              show_default=True, help="How long to run, in ring rotations.")
@click.option("--seed", "-s", type=int, default=1, show_default=True,
              help="Seed of every random choice; the same seed gives the same run.")
@click.option("--inject", "injects", multiple=True, metavar="KIND@ROTATION[:STATION]",
              help=f"Inject a fault (repeatable). {_KINDS_HELP}. "
                   "STATION defaults to one drawn from the seed.")
@click.option("--snapshot-every", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Rotations between snapshots (0: no snapshots).")
@click.option("--load", type=click.FloatRange(0, 1, max_open=True), default=0.1,
              show_default=True, help="Share of rotations that carry a busy frame.")
@click.option("--payload-size", type=click.IntRange(0, 4096), default=64, show_default=True,
              help="Octets of payload per busy frame.")
@click.option("--link-delay-us", type=click.FloatRange(min=0, min_open=True), default=50.0,
              show_default=True, help="Mean link delay in (virtual) microseconds.")
@click.option("--jitter-us", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="Per-message jitter in microseconds (links stay FIFO).")
@click.option("--recovery", type=click.Choice(["purge", "none"]), default="purge",
              show_default=True, help="Purge the ring after a LOST or DUPLICATE verdict.")
@click.option("--active-monitor", type=int, default=0, show_default=True,
              help="Station acting as 802.5 active monitor.")
@click.option("--pcap", type=click.Path(dir_okay=False, writable=True),
              help="Write every frame to this pcap file (link type 6, Token Ring).")
@click.option("--events", "events_path", type=click.Path(dir_okay=False, writable=True),
              help="Write every snapshot, alarm, purge and fault event here (JSON lines).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print speed and progress on stderr.")
def sim(
    stations: int, rotations: float, seed: int, injects: tuple[str, ...], snapshot_every: float,
    load: float, payload_size: int, link_delay_us: float, jitter_us: float, recovery: str,
    active_monitor: int, pcap: str | None, events_path: str | None, as_json: bool, quiet: bool,
) -> int:
    """Simulate a ring deterministically, inject faults and check they are detected.

    Runs the same station, snapshot and alarm code as the live ring, on a virtual clock.
    Exit status: 0 valid, 1 invalid (missed fault or false alarm), 2 unknown (a fault had no
    observable effect).

    \b
    Examples:
      ringemu sim --stations 16 --rotations 300 --inject lose@50 --inject dup@150:3
      ringemu sim -n 1000 -r 20 --json
    """
    config = SimConfig(
        stations=stations, rotations=rotations, seed=seed, snapshot_every=snapshot_every,
        load=load, payload_size=payload_size, link_delay=link_delay_us * 1e-6,
        jitter=jitter_us * 1e-6, recovery=(recovery == "purge"), active_monitor=active_monitor,
        faults=[parse_fault(s, SIM_KINDS, "rotations") for s in injects], pcap=pcap,
    )
    ring = RingSim(config)
    events_file = open(events_path, "w") if events_path else None
    if events_file is not None:
        ring.on_event = lambda d: events_file.write(json.dumps(d, sort_keys=True) + "\n")
    progress = None
    if not quiet and sys.stderr.isatty():
        progress = _progress_printer(rotations)
    try:
        outcome = ring.run(progress)
    except OSError as e:
        raise ConfigError(f"cannot write {e.filename}: {e.strerror}") from None
    finally:
        if events_file is not None:
            events_file.close()
    if progress is not None:
        click.echo("\r\033[K", err=True, nl=False)
    data = _summary(outcome)
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        for line in _human(outcome, data):
            click.echo(line)
    if not quiet:
        click.echo(
            f"ringemu sim: {outcome.deliveries:,} hops ({outcome.token_passes:,} token passes) "
            f"in {outcome.wall:.2f} s wall: {outcome.hops_per_s:,.0f} simulated hops/s",
            err=True,
        )
    return exit_code(data["valid"])


def _summary(o: SimOutcome) -> dict:
    rot = o.rotation
    data = summary(o.judgement, o.results, o.alarms, lambda t: t / rot, "detection_rotations")
    stats = o.station_stats
    data.update(
        stations=o.config.stations,
        rotations=o.config.rotations,
        seed=o.config.seed,
        rotation_us=round(rot * 1e6, 3),
        token_passes=o.token_passes,
        hops=o.deliveries,
        frames_sent=sum(s["sent"] for s in stats),
        frames_delivered=sum(s["delivered"] for s in stats),
        malformed=sum(s["malformed"] for s in stats),
        purges=len(o.purges),
    )
    if o.config.pcap:
        data["pcap"] = o.config.pcap
        data["captured"] = o.captured
    return data


def _human(o: SimOutcome, data: dict) -> list[str]:
    c = o.config
    head = [
        f"ringemu sim: {c.stations} stations, {c.rotations:g} rotations "
        f"(1 rotation = {data['rotation_us']:g} us virtual), seed {c.seed}",
        f"traffic    {data['token_passes']:,} token passes, {data['frames_sent']:,} frames sent, "
        f"{data['frames_delivered']:,} delivered, {data['malformed']} malformed dropped",
        f"purges     {data['purges']}",
    ]
    if c.pcap:
        head.append(f"capture    {data['captured']:,} records in {c.pcap}")
    return head + human_lines(data, "detection_rotations", "rotations")


def _progress_printer(total: float):
    last = [0.0]

    def progress(rotation: float, hops: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            click.echo(f"\rsimulating: rotation {rotation:,.1f} of {total:,g}, "
                       f"{hops:,} hops", err=True, nl=False)

    return progress
