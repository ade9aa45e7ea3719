"""Options shared by the commands that launch a live ring (``up`` and ``run``)."""

from __future__ import annotations

from typing import Callable

import click

from ringemu.live.launcher import RingConfig


def ring_options(default_stations: int = 8) -> Callable:
    def decorate(f: Callable) -> Callable:
        options = [
            click.option("--stations", "-n", type=click.IntRange(2, 1000),
                         default=default_stations, show_default=True,
                         help="Station processes in the ring."),
            click.option("--snapshot-interval", type=click.FloatRange(min=1), default=200.0,
                         show_default=True, metavar="MS", help="Milliseconds between snapshots."),
            click.option("--snapshot-deadline", type=click.FloatRange(min=1), default=250.0,
                         show_default=True, metavar="MS",
                         help="Least time a snapshot may take before silent stations make it "
                              "INCOMPLETE; it grows to 8 typical snapshot times and 4 ring "
                              "rotations when those are longer."),
            click.option("--recovery", type=click.Choice(["purge", "none"]), default="purge",
                         show_default=True,
                         help="Purge the ring after a LOST or DUPLICATE verdict."),
            click.option("--seed", "-s", type=int, default=1, show_default=True,
                         help="Seed of the traffic and of random station choices."),
            click.option("--load", type=click.FloatRange(0, 1, max_open=True), default=0.1,
                         show_default=True, help="Share of rotations that carry a busy frame."),
            click.option("--payload-size", type=click.IntRange(0, 4096), default=64,
                         show_default=True, help="Octets of payload per busy frame."),
            click.option("--transport", type=click.Choice(["ipc", "tcp"]), default="ipc",
                         show_default=True, help="ipc:// sockets, or tcp on 127.0.0.1."),
            click.option("--active-monitor", type=int, default=0, show_default=True,
                         help="Station acting as 802.5 active monitor (purges the ring)."),
            click.option("--pin", type=click.Choice(["none", "one"]), default="none",
                         show_default=True,
                         help="CPU placement: 'one' puts every station on one CPU, so no "
                              "hop waits for a wake-up on another CPU (1.1-1.4x the hop rate "
                              "on this 2-core machine; see docs/benchmarks.md)."),
            click.option("--pcap", type=click.Path(dir_okay=False, writable=True),
                         help="Also capture every frame into this pcap file."),
            click.option("--runs-dir", type=click.Path(file_okay=False),
                         help="Where run folders go (default: $RINGEMU_RUNS or ./runs)."),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def ring_config(kw: dict) -> RingConfig:
    """Build a RingConfig from the shared options (removes them from ``kw``)."""
    return RingConfig(
        stations=kw.pop("stations"),
        snapshot_interval=kw.pop("snapshot_interval") / 1000.0,
        min_deadline=kw.pop("snapshot_deadline") / 1000.0,
        recovery=kw.pop("recovery") == "purge",
        seed=kw.pop("seed"),
        load=kw.pop("load"),
        payload_size=kw.pop("payload_size"),
        transport=kw.pop("transport"),
        active_monitor=kw.pop("active_monitor"),
        pin=kw.pop("pin"),
        pcap=kw.pop("pcap"),
        runs_dir=kw.pop("runs_dir"),
    )
