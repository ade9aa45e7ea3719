"""``ringemu capture``: the frames of a running ring, live, as pcap (Token Ring, link type 6).

``ringemu capture -w - | tshark -i -`` (or ``| wireshark -k -i -``) shows the ring as it runs;
``-w FILE`` writes a file. The stations publish copies of what they receive only while a
capture reader holds a lease, and never wait for it (``ringemu.live.tap``); what a slow reader
misses is counted and said on stderr at the end, and in ``ringemu status`` (``capture``).
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import BinaryIO, Iterator

import click

from ringemu.cli.control_cmds import RUN_OPTION
from ringemu.cli.options import Finite, check_writable_file
from ringemu.errors import ConfigError
from ringemu.live.paths import find_ring


@click.command()
@RUN_OPTION
@click.option("--link", "link_", type=click.IntRange(0, None), metavar="K",
              help="Only link K: what station K receives from its upstream neighbour "
                   "(default: every link).")
@click.option("-w", "--write", "target", default="-", show_default=True, metavar="FILE|-",
              help="Write the pcap here; '-' is standard output (for a pipe into tshark or "
                   "wireshark).")
@click.option("-c", "--count", type=click.IntRange(1, None), default=None,
              help="Stop after this many records.")
@click.option("--duration", type=Finite(0, 86400 * 365, lo_open=True), default=None,
              metavar="SECONDS", help="Stop after this many seconds.")
@click.option("--buffer", type=click.IntRange(1, 10_000_000), default=50_000,
              show_default=True, metavar="COPIES",
              help="Copies queued here per link while the output is slow; past it (and a "
                   "small queue at each station) the stations drop copies and count them.")
def capture(which: str | None, link_: int | None, target: str, count: int | None,
            duration: float | None, buffer: int) -> int:
    """Capture the 802.5 frames of a running ring, live, as pcap (link type 6).

    Tokens, frames, markers, purges and the effects of injected faults, in order on each link
    (links merged by time). Runs until Ctrl-C, --count, --duration, the end of the ring, or
    the reader at the other end of the pipe leaving.

    \b
    ringemu capture -w - | tshark -i -
    ringemu capture -w - | wireshark -k -i -
    ringemu capture --link 3 -w link3.pcap --duration 10
    """
    from ringemu.frames.pcapstream import PcapStream
    from ringemu.live.capture_reader import CaptureReader

    info = find_ring(which)
    if not info.launcher_alive():
        raise ConfigError(f"ring {info.run_id} is not running")
    if link_ is not None and link_ >= info.stations:
        raise ConfigError(f"--link {link_}: no station {link_} (stations are "
                          f"0..{info.stations - 1})")
    if target == "-" and sys.stdout.isatty():
        raise ConfigError("-w -: standard output is a terminal; pipe it (| tshark -i -) or "
                          "give -w FILE")
    if target != "-":
        check_writable_file(target, "-w")
    with _output(target) as f, _stop_flag() as stopped:
        out = PcapStream(f)
        reader = CaptureReader(info, out, None if link_ is None else [link_], buffer=buffer)
        broken = False
        try:
            counts = reader.run(lambda: stopped[0], count, duration)
        except BrokenPipeError:
            broken = True
            counts = reader.counts
            _quiet_stdout()
        finally:
            reader.close()
    click.echo(f"ringemu capture: {counts.describe()}"
               + (f"; {reader.ended}" if reader.ended else "")
               + ("; the reader of the pipe left" if broken else ""), err=True)
    return 0


@contextmanager
def _output(target: str) -> Iterator[BinaryIO]:
    if target == "-":
        yield sys.stdout.buffer
        return
    try:
        f = open(target, "wb")
    except OSError as e:
        raise ConfigError(f"-w {target}: {e.strerror}") from None
    with f:
        yield f


@contextmanager
def _stop_flag() -> Iterator[list[bool]]:
    """Ctrl-C, SIGTERM and SIGHUP set a flag the capture loop reads: a record being written
    is never cut in half, and the lease is given up."""
    stopped = [False]

    def handler(signum, frame):  # noqa: ARG001
        stopped[0] = True

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield stopped
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _quiet_stdout() -> None:
    """The pipe's reader left: send what Python still wants to flush to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except OSError:
        pass
