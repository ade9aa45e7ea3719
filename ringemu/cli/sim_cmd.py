"""``ringemu sim``: run the deterministic simulator and judge the run.

Stdout is the result and is the same, byte for byte, for the same arguments: the human summary,
or with ``--json`` a JSON object on the last line. Wall-clock figures (simulated hops per second)
go to stderr, because they differ from run to run.
"""

from __future__ import annotations

import json
from collections import Counter

import click

from ringemu.cli.options import Finite, build, ring_options
from ringemu.cli.scenario import active, explain, finish, scenario_option
from ringemu.cli.progress import Progress
from ringemu.errors import ConfigError
from ringemu.faults import Shell, help_lines, parse_fault, parse_kinds
from ringemu.sim.ring import RingSim, SimConfig, SimOutcome
from ringemu.summary import exit_code, human_lines, summary

_KINDS_HELP = "; ".join(help_lines(Shell.SIM))


@click.command()
@scenario_option(Shell.SIM)
@ring_options(live=False)
@click.option("--rotations", "-r", type=Finite(0, 1e9, lo_open=True), default=100,
              show_default=True, help="How long to run, in ring rotations.")
@click.option("--inject", "injects", multiple=True, metavar="KIND@ROTATION[:STATION[:ARG]]",
              help=f"Inject a fault (repeatable). {_KINDS_HELP}. "
                   "STATION defaults to one drawn from the seed; 'am' aims at the active "
                   "monitor of the moment (kill@50:am).")
@click.option("--snapshot-every", type=Finite(0, 1e9), default=2.0, show_default=True,
              help="Rotations between snapshots (0: no snapshots).")
@click.option("--link-delay-us", type=Finite(0, 1e9, lo_open=True), default=50.0,
              show_default=True, help="Mean link delay in (virtual) microseconds.")
@click.option("--jitter-us", type=Finite(0, 1e9), default=20.0, show_default=True,
              help="Per-message jitter in microseconds (links stay FIFO).")
@click.option("--restart/--no-restart", default=False, show_default=True,
              help="A killed station comes back (from its journal) --restart-delay later.")
@click.option("--restart-delay", type=Finite(0, 1e6), default=10.0, show_default=True,
              metavar="ROTATIONS", help="How long a killed station stays dead with --restart.")
@click.option("--drain", type=Finite(0, 1e9), default=None, metavar="ROTATIONS",
              help="After --rotations, run on this long with no new traffic or faults, so "
                   "payloads on their way are delivered (default: a tenth of the run, at "
                   "least 20).")
@click.option("--pcap", type=click.Path(dir_okay=False),
              help="Write every frame to this pcap file (link type 6, Token Ring).")
@click.option("--events", "events_path", type=click.Path(dir_okay=False),
              help="Write every event of the run here (JSON lines, as a live run's "
                   "events.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print speed and progress on stderr.")
def sim(rotations: float, injects: tuple[str, ...], chaos: float, chaos_kinds: str | None,
        snapshot_every: float, link_delay_us: float, jitter_us: float, restart: bool,
        restart_delay: float, drain: float | None, pcap: str | None,
        events_path: str | None, as_json: bool, quiet: bool, **kw) -> int:
    """Simulate a ring deterministically, inject faults and check they are detected.

    Runs the same station, snapshot and alarm code as the live ring, on a virtual clock.
    Exit status: 0 valid, 1 invalid (missed fault or false alarm), 2 unknown (a fault had no
    observable effect).

    \b
    Examples:
      ringemu sim --stations 16 --rotations 300 --inject lose@50 --inject dup@150:3
      ringemu sim -n 1000 -r 20 --json
    """
    ctx = click.get_current_context()
    try:
        config = build(
            SimConfig, kw, rotations=rotations, snapshot_every=snapshot_every,
            link_delay=link_delay_us * 1e-6, jitter=jitter_us * 1e-6,
            faults=[parse_fault(s, Shell.SIM, "rotations") for s in injects], pcap=pcap,
            restart=restart, restart_delay=restart_delay, drain=drain,
            chaos=chaos, chaos_kinds=None if chaos_kinds is None else parse_kinds(
                chaos_kinds, Shell.SIM),
        )
    except ConfigError as e:
        raise explain(ctx, e) from None
    outputs = [p for p in (pcap, events_path) if p]
    check_writable(outputs)
    events_file = open(events_path, "w") if events_path else None
    sink = None
    if events_file is not None:
        sink = lambda d: events_file.write(json.dumps(d, sort_keys=True) + "\n")  # noqa: E731
    kinds: Counter[str] = Counter()
    if active(ctx) is not None:  # a scenario may expect events: count them
        write = sink
        sink = lambda d: (kinds.update((d["event"],)), write and write(d))  # noqa: E731
    try:
        ring = RingSim(config, on_event=sink)
    except ConfigError as e:
        raise explain(ctx, e) from None
    progress = Progress.for_terminal(config.rotations + config.drain_rotations,
                                     quiet=quiet or as_json, unit="rotations")
    try:
        outcome = ring.run(_progress_line(ring, progress) if progress.enabled else None)
    except OSError as e:
        raise ConfigError(f"cannot write {e.filename}: {e.strerror}") from None
    finally:
        progress.clear()
        if events_file is not None:
            events_file.close()
    data = _summary(outcome)
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        for line in _human(outcome, data):
            click.echo(line)
    if not quiet:
        click.echo(
            f"ringemu sim: {outcome.token_passes:,} token passes ({outcome.deliveries:,} "
            f"deliveries with markers) in {outcome.wall:.2f} s wall: "
            f"{outcome.passes_per_s:,.0f} token passes/s ({outcome.hops_per_s:,.0f} simulated "
            f"hops/s)",
            err=True,
        )
    ms = data["rotation_us"] / 1000.0
    met = finish(ctx, data, dict(kinds), [(f["spec"], f["detection_rotations"] * ms)
                                          for f in data["faults"] if f["detected"]], "sim")
    return exit_code(data["valid"]) if met is None else met


def check_writable(paths: list[str]) -> None:
    """Refuse, before anything runs, an output file that cannot be written."""
    for path in paths:
        try:
            with open(path, "a"):
                pass
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror}") from None


def _summary(o: SimOutcome) -> dict:
    rot = o.rotation
    data = summary(o.history, o.judgement, lambda t: t / rot, "detection_rotations")
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


def _progress_line(ring: RingSim, progress: Progress):
    """The simulator's progress callback: rotations done, time left, snapshots, faults and
    alarms so far (on a terminal only; the run's output stays the same)."""
    h = ring.history

    def show(rotation: float, hops: int) -> None:
        if progress.due(rotation):
            active = sum(1 for a in h.alarms if a.cleared is None)
            progress.show(rotation, f"{len(h.results):,} snapshots, {len(h.faults)} faults, "
                          f"{len(h.alarms)} alarms ({active} active), {hops:,} hops")

    return show
