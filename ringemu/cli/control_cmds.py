"""``ringemu inject``, ``ringemu down`` and ``ringemu status``: act on a running ring.

They find the ring by ``--run`` (a run id or run folder) or take the most recently started
ring that is still running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import click

from ringemu.cli.options import Finite
from ringemu.errors import ConfigError
from ringemu.faults import ACTIVE_MONITOR, Shell, help_lines, kinds_for
from ringemu.live.client import ControlClient, RingUnreachable
from ringemu.live.paths import RingInfo, find_ring, same_process
from ringemu.live.procutil import end_groups

RUN_OPTION = click.option("--run", "which", metavar="RUN",
                          help="Run id or run folder of the ring (default: the newest running).")


def _ask(info: RingInfo, request: dict, as_json: bool) -> dict:
    """Send one control request; print the reply with ``--json``; a refusal is a one-line
    error (exit 2) naming the request."""
    try:
        reply = ControlClient.for_ring(info).request(request)
    except RingUnreachable as e:
        raise ConfigError(str(e)) from None
    if as_json:
        click.echo(json.dumps(reply))
    if not reply.get("ok"):
        raise ConfigError(f"{request['cmd']} refused: {reply.get('error')}")
    return reply


class StationOrMonitor(click.ParamType):
    """A station number, or ``am``: the active monitor when the fault is injected."""

    name = "STATION|am"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).lower() == ACTIVE_MONITOR:
            return value if isinstance(value, int) else ACTIVE_MONITOR
        try:
            n = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a station number nor 'am'", param, ctx)
        if n < 0:
            self.fail(f"{n} is not a station number", param, ctx)
        return n


INJECT_HELP = (
    "Inject a fault into a running ring.\n\n\b\nKIND:\n"
    + "\n".join(f"  {line}" for line in help_lines(Shell.LIVE))
    + "\n\nSECONDS is only for pause (default 1, at most 60). The monitor records the "
    "injection, and its detection, in the run's events.jsonl."
)


@click.command(help=INJECT_HELP)
@click.argument("kind", type=click.Choice([k.value for k in kinds_for(Shell.LIVE)],
                                          case_sensitive=False))
@click.argument("seconds", type=Finite(0, 60, lo_open=True), required=False)
@click.option("--station", "-S", type=StationOrMonitor(),
              help="Station to inject at, or 'am' for the active monitor of the moment "
                   "(default: a random one).")
@RUN_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the monitor's reply as JSON.")
def inject(kind: str, seconds: float | None, station: int | str | None, which: str | None,
           as_json: bool) -> int:
    kind = kind.lower()
    if seconds is not None and kind != "pause":
        raise click.UsageError("SECONDS is only valid for 'pause'")
    info = find_ring(which)
    reply = _ask(info, {"cmd": "inject", "kind": kind, "arg": seconds,
                        "station": None if station == ACTIVE_MONITOR else station,
                        "active_monitor": station == ACTIVE_MONITOR}, as_json)
    if not as_json:
        extra = f" for {seconds:g} s" if kind == "pause" else ""
        click.echo(f"injected {kind}{extra} at station {reply['station']} of ring {info.run_id} "
                   f"(fault #{reply['fault_id']})")
    return 0


@click.command()
@RUN_OPTION
@click.option("--timeout", type=Finite(0.1, 3600), default=5.0, show_default=True,
              help="Seconds to wait for the ring to end before ending its processes directly.")
def down(which: str | None, timeout: float) -> int:
    """Stop a running ring: every process it started, and nothing else."""
    info = find_ring(which)
    launcher = info.launcher
    running = [p for p in [launcher, *info.processes]
               if same_process(p["pid"], p.get("start_time"))]
    if not running:
        click.echo(f"ring {info.run_id} is not running (it has ended); nothing to stop; "
                   f"records in {info.run_dir}")
        return 0
    if same_process(launcher["pid"], launcher.get("start_time")):
        os.kill(launcher["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and same_process(launcher["pid"],
                                                           launcher.get("start_time")):
            time.sleep(0.02)
    # whatever is left (a launcher that died or hangs): end the recorded groups ourselves
    leftovers = [p for p in info.processes if same_process(p["pid"], p.get("start_time"))]
    if leftovers:
        end_groups(leftovers, grace=0.5)
    shutil.rmtree(info.runtime_dir, ignore_errors=True)
    click.echo(f"ring {info.run_id} stopped ({info.stations} stations); "
               f"records in {info.run_dir}")
    return 0


@click.command()
@RUN_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(which: str | None, as_json: bool) -> int:
    """Show a running ring: phase, snapshots, alarms, hop rate, station states."""
    from ringemu.cli.up_cmd import status_line

    info = find_ring(which)
    try:
        reply = ControlClient.for_ring(info).request({"cmd": "status"})
    except RingUnreachable as e:
        raise ConfigError(str(e)) from None
    if as_json:
        click.echo(json.dumps({"run_id": info.run_id, "run_dir": info.run_dir, **reply}))
    else:
        click.echo(f"ring {info.run_id} ({info.stations} stations), records in {info.run_dir}")
        click.echo(status_line(reply))
    return 0


@click.command()
@click.argument("station", type=click.IntRange(0, None))
@RUN_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the monitor's reply as JSON.")
def restart(station: int, which: str | None, as_json: bool) -> int:
    """Bring dead station STATION back: the launcher starts its process again (it resumes
    from its payload journal) and the ring inserts it between its neighbours."""
    info = find_ring(which)
    _ask(info, {"cmd": "restart", "station": station}, as_json)
    if not as_json:
        click.echo(f"station {station} of ring {info.run_id} will be started again")
    return 0
