"""The options every ring command shares, built once, and the number type they use.

``ring_options`` decorates ``sim``, ``up`` and ``run`` alike (``live=True`` adds what only a live
ring has), and ``build`` turns the collected values into the one parameter model
(``ringemu.params``), whose ``validate()`` has the last word. Every float option goes through
``Finite``, which refuses NaN and infinity (``click.FloatRange`` lets NaN through, since every
comparison with NaN is false).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ringemu.core.impairments import NONE, Impairment
from ringemu.errors import ConfigError
from ringemu.params import MAX_STATIONS, Recovery, RingParams, Transport

P = TypeVar("P", bound=RingParams)


class Finite(click.ParamType):
    """A finite float in [lo, hi] (an open end with ``lo_open``/``hi_open``), times ``scale``."""

    name = "number"

    def __init__(self, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False, scale: float = 1.0) -> None:
        self.lo, self.hi, self.lo_open, self.hi_open, self.scale = lo, hi, lo_open, hi_open, scale

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, float) and math.isfinite(value):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
            if not math.isfinite(v):
                self.fail(f"{value!r} is not a finite number", param, ctx)
        lo, hi = self.lo, self.hi
        if lo is not None and (v <= lo if self.lo_open else v < lo):
            self.fail(f"{v:g} is not {'above' if self.lo_open else 'at least'} {lo:g}", param, ctx)
        if hi is not None and (v >= hi if self.hi_open else v > hi):
            self.fail(f"{v:g} is not {'below' if self.hi_open else 'at most'} {hi:g}", param, ctx)
        return v * self.scale


IMPAIRMENT_KEYS = ("delay", "jitter", "loss", "burst_loss", "dup", "reorder", "bandwidth")
"""The impairment options' parameter names (``--burst-loss`` is ``burst_loss``)."""


def impairment_options(what: str = "every ring link") -> list:
    """``--delay``, ``--jitter``, ``--loss``, ``--burst-loss``, ``--dup``, ``--reorder`` and
    ``--bandwidth`` (``ringemu.core.impairments``), for ``what``. Their values are read by
    ``Impairment.from_mapping`` (units: 5ms, 200us, 1s; 1% or 0.01; 10mbit)."""
    return [
        click.option("--delay", metavar="TIME", default=None,
                     help=f"Delay {what} adds to each message (5ms, 200us, 1s)."),
        click.option("--jitter", metavar="TIME", default=None,
                     help="Spread of that delay: each message waits --delay plus a uniform "
                          "draw from [-TIME, +TIME] (links stay FIFO)."),
        click.option("--loss", metavar="SHARE", default=None,
                     help="Drop each message with this probability, independently (1% or "
                          "0.01)."),
        click.option("--burst-loss", "burst_loss", metavar="P/R[/LOSS]", default=None,
                     help="Gilbert-Elliott burst loss: go bad with probability P per message, "
                          "good again with R, and drop with LOSS (default 100%) while bad "
                          "(1%/30%: bursts of about 3 messages)."),
        click.option("--dup", metavar="SHARE", default=None,
                     help="Send each message twice with this probability."),
        click.option("--reorder", metavar="SHARE", default=None,
                     help="Send each message at once, past those waiting out their delay, "
                          "with this probability. Off by default: markers may then overtake "
                          "tokens and snapshots count wrong (see docs/impairments.md)."),
        click.option("--bandwidth", metavar="RATE", default=None,
                     help="Bits per second the link carries (10mbit, 64kbit, 8000)."),
    ]


def impairment_from_options(kw: dict) -> Impairment | None:
    """The impairment the options in ``kw`` give (taken out of it); None when none is given.
    ConfigError names the option."""
    given = {k.replace("_", "-"): kw.pop(k) for k in IMPAIRMENT_KEYS if k in kw}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    try:
        return Impairment.from_mapping(given)
    except ValueError as e:
        raise ConfigError(f"--{e}") from None


def parse_link_impairment(text: str, stations: int, base: dict[str, str]
                          ) -> tuple[int, Impairment]:
    """One ``--impair K:KEY=VALUE[,KEY=VALUE...]``: link K's impairment, the all-links options
    (``base``) with these keys on top."""
    link, colon, rest = text.partition(":")
    try:
        k = int(link)
    except ValueError:
        raise ConfigError(f"--impair {text!r}: expected LINK:KEY=VALUE[,KEY=VALUE...], "
                          f"LINK a station number") from None
    if not colon or not rest.strip():
        raise ConfigError(f"--impair {text!r}: expected LINK:KEY=VALUE[,KEY=VALUE...]")
    if not 0 <= k < stations:
        raise ConfigError(f"--impair {text!r}: no link {k} in a ring of {stations} (links "
                          f"are named by their sending station, 0..{stations - 1})")
    mapping = dict(base)
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--impair {text!r}: {item!r} is not KEY=VALUE")
        mapping[key.strip()] = value.strip()
    try:
        return k, Impairment.from_mapping(mapping)
    except ValueError as e:
        raise ConfigError(f"--impair {text!r}: {e}") from None


def ring_options(live: bool, default_stations: int = 8) -> Callable:
    """The shared options; ``live`` adds the snapshot schedule, transport, CPU placement,
    capture and run folder of a live ring."""
    common = [
        click.option("--stations", "-n", type=click.IntRange(2, MAX_STATIONS),
                     default=default_stations, show_default=True,
                     help="Stations in the ring."),
        click.option("--seed", "-s", type=click.IntRange(-(2**63), 2**63 - 1), default=1,
                     show_default=True,
                     help="Seed of the traffic and of every random choice (same seed, same "
                          "choices)."),
        click.option("--load", type=Finite(0, 1, hi_open=True), default=0.1, show_default=True,
                     help="Share of rotations that carry a busy frame (0: free tokens only)."),
        click.option("--payload-size", type=click.IntRange(0, 4096), default=64,
                     show_default=True, help="Octets of payload per busy frame."),
        click.option("--recovery", type=click.Choice([r.value for r in Recovery]),
                     default=Recovery.PURGE.value, show_default=True,
                     help="After a LOST or DUPLICATE verdict: 'purge' the ring (802.5 Ring "
                          "Purge, then one fresh token), 'rollback' every station and link to "
                          "the last snapshot that counted one, or do nothing."),
        click.option("--active-monitor", type=click.IntRange(0, MAX_STATIONS - 1), default=0,
                     show_default=True,
                     help="Station acting as 802.5 active monitor (purges the ring)."),
        click.option("--suspicions/--no-suspicions", default=True, show_default=True,
                     help="A station that sees no token, or a second one too soon, starts a "
                          "snapshot at once (never an alarm by itself); off, only the periodic "
                          "snapshots look."),
        click.option("--trace/--no-trace", default=True, show_default=True,
                     help="Stations keep a short trace of their recent messages, so "
                          "'ringemu report' can draw the first snapshot and every alarming "
                          "one as a space-time diagram."),
    ]
    live_only = [
        click.option("--snapshot-interval", "snapshot_interval", type=Finite(0, 3_600_000,
                     scale=1e-3), default=200.0, show_default=True, metavar="MS",
                     help="Milliseconds between snapshots (0: no periodic snapshots)."),
        click.option("--snapshot-deadline", "snapshot_deadline", type=Finite(1, 3_600_000,
                     scale=1e-3), default=250.0, show_default=True, metavar="MS",
                     help="Least time a snapshot may take before silent stations make it "
                          "INCOMPLETE; it grows to 8 typical snapshot times and 4 ring "
                          "rotations when those are longer."),
        click.option("--transport", type=click.Choice([t.value for t in Transport]),
                     default=Transport.IPC.value, show_default=True,
                     help="ipc:// sockets in a private folder, or tcp on 127.0.0.1."),
        click.option("--pin", type=click.Choice(["none", "one", "split"]), default="none",
                     show_default=True,
                     help="CPU placement: 'one' puts every station on one CPU, so no hop waits "
                          "for a wake-up on another CPU; 'split' also keeps the monitor off "
                          "that CPU (see docs/benchmarks.md)."),
        click.option("--restart/--no-restart", default=False, show_default=True,
                     help="Start a station whose process died again (from its payload "
                          "journal) --restart-delay later; it is inserted back into the ring."),
        click.option("--restart-delay", type=Finite(0, 3600), default=0.5, show_default=True,
                     metavar="SECONDS", help="How long a dead station stays out with --restart."),
        click.option("--pcap", type=click.Path(dir_okay=False),
                     help="Also capture every frame into this pcap file."),
        click.option("--runs-dir", type=click.Path(file_okay=False),
                     help="Where run folders go (default: $RINGEMU_RUNS or ./runs)."),
        click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
                     metavar="PORT",
                     help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics "
                          "(see docs/metrics.md)."),
    ]
    unit = "second" if live else "rotation"
    chaos = [
        click.option("--chaos", type=Finite(0, 1e6), default=0.0, metavar="RATE",
                     help=f"Also inject random faults, about RATE per {unit}, at random times "
                          f"(some within 10 ms{'' if live else ' of virtual time'} of each "
                          "other) and at stations alive then, drawn from the seed."),
        click.option("--chaos-kinds", metavar="KINDS", default=None,
                     help="Comma list of the fault kinds --chaos draws (default: every kind "
                          "this command supports)."),
    ]
    impair = impairment_options() + [
        click.option("--impair", "impair", multiple=True, metavar="K:KEY=VALUE[,...]",
                     help="Link K (station K to its downstream neighbour) gets its own "
                          "settings, on top of the options above; KEY is delay, jitter, loss, "
                          "burst-loss, dup, reorder or bandwidth (repeatable: "
                          "--impair 3:delay=5ms,loss=1%)."),
    ]
    options = common + chaos + impair + (live_only if live else [])

    def decorate(f: Callable) -> Callable:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


SHARED = ("stations", "seed", "load", "payload_size", "recovery", "active_monitor",
          "suspicions", "trace")
LIVE = ("snapshot_interval", "snapshot_deadline", "transport", "pin", "pcap", "runs_dir",
        "restart", "restart_delay", "metrics_port")


def build(cls: type[P], kw: dict, **extra: Any) -> P:
    """The parameter object from the shared options (taken out of ``kw``) and ``extra``;
    validated, so a bad combination is a one-line ConfigError. A reordering link is warned
    about on stderr (it may make snapshots count wrong)."""
    values = {name: kw.pop(name) for name in SHARED + LIVE if name in kw}
    base = {k.replace("_", "-"): kw[k] for k in IMPAIRMENT_KEYS if kw.get(k) is not None}
    values["impairment"] = impairment_from_options(kw) or NONE
    stations = values.get("stations", 8)
    links = dict(parse_link_impairment(t, stations, base) for t in kw.pop("impair", ()))
    params = cls(**values, link_impairments=links, **extra)
    params.validate()
    warn_reordering([params.impairment, *params.link_impairments.values()])
    return params


def warn_reordering(impairments: list[Impairment]) -> None:
    """One line on stderr when any of ``impairments`` reorders messages."""
    warning = next((i.warning() for i in impairments if i.warning()), None)
    if warning:
        click.echo(f"ringemu: warning: {warning}", err=True)


def check_writable_file(path: str, option: str) -> None:
    """Refuse, before anything runs, an output file that cannot be written (without creating
    it: its folder must exist and be writable, and the file itself if it exists)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{option} {path}: is a folder")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: no folder {folder}")
    if not os.access(p if p.exists() else folder, os.W_OK):
        raise ConfigError(f"{option} {path}: not writable")


def check_writable_dir(path: Path, option: str) -> None:
    """Refuse a folder that cannot be made or written (the first existing ancestor decides)."""
    p = Path(path)
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{option} {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: not writable")


def check_outputs(cfg: Any) -> None:
    """Refuse, before a live ring starts, a capture file or runs folder that cannot be
    written (so no run ends with its summary lost to an unwritable path), and a metrics port
    that is taken."""
    from ringemu.live.paths import runs_root

    if cfg.pcap:
        check_writable_file(cfg.pcap, "--pcap")
    check_writable_dir(runs_root(cfg.runs_dir), "--runs-dir")
    if getattr(cfg, "metrics_port", None) is not None:
        check_port_free(cfg.metrics_port, "--metrics-port")


def check_port_free(port: int, option: str, host: str = "127.0.0.1") -> None:
    """Refuse a TCP port that cannot be bound on ``host`` (taken, or privileged)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(f"{option} {port}: cannot listen on {host}:{port} "
                              f"({e.strerror})") from None
