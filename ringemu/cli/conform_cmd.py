"""``ringemu conform``: replay a peer's Chandy-Lamport test case on our snapshot recorder.

Kept thin on purpose: parsing lives in ``ringemu.conform.formats`` and the simulation in
``ringemu.conform.harness``, so tests can drive both without a subprocess. Input errors are
``ConfigError``s, which ``ringemu.cli.main`` prints as one line and turns into exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from ringemu.conform.formats import format_snaps, parse_delays, parse_events, parse_topology
from ringemu.conform.harness import Harness

_FILE = click.Path(path_type=Path)  # existence and content are checked by the parsers


@click.command(context_settings={"max_content_width": 100})
@click.argument("top", metavar="TOP", type=_FILE)
@click.argument("events", metavar="EVENTS", type=_FILE)
@click.option(
    "--delays", "delays_file", metavar="FILE", type=_FILE, required=True,
    help="Delay stream: one integer r >= 0 per line, one per queued message (token or marker); "
         "a message queued at time t arrives at t+1+r. Running out is an error.",
)
@click.option("--trace", is_flag=True,
              help="Also write every enqueue and delivery to stderr (t=... lines).")
def conform(top: Path, events: Path, delays_file: Path, trace: bool) -> None:
    """Replay a COS 418-style Chandy-Lamport case and print the snapshots it records.

    TOP is a .top topology (server count, '<server> <tokens>' lines, then one
    '<src> <dst>' line per one-way FIFO channel; '#' comments allowed). EVENTS is an
    .events script ('send <src> <dst> <k>', 'snapshot <server>', 'tick' or 'tick <n>').

    The run follows the peer simulator's rules: each tick delivers at most one due message
    per sender (senders byte-wise by id, channels by destination, FIFO); markers go out on
    every outgoing channel in destination order; after the script it ticks until every
    snapshot is finished, then 6 more. Every snapshot decision is made by ringemu's own
    SnapshotRecorder, one per server.

    Output (stdout) is every snapshot in .snap format, in id order, separated by blank lines:
    the id, one '<server> <tokens>' line per server, then one '<src> <dst> token(<k>)' line
    per message recorded in transit, in delivery order. Bad input prints one line
    'ringemu: error: FILE:LINE: ...' and exits with status 2.

    \b
    Example (the peer vectors; see docs/conformance.md):
      V=../shared/conformance/chandy-lamport
      ringemu conform $V/10nodes.top $V/10nodes.events \\
          --delays $V/go-math-rand-seed8053172852482175524-intn5-first10000.txt
    """
    topology = parse_topology(top)
    script = parse_events(events, topology)
    delays = parse_delays(delays_file)
    sink = (lambda line: click.echo(line, err=True)) if trace else None
    harness = Harness(topology, script, delays, delays_source=str(delays_file), trace=sink)
    click.echo(format_snaps(harness.run()), nl=False)
