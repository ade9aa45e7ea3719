"""``ringemu inject``, ``ringemu down`` and ``ringemu status``: act on a running ring.

They find the ring by ``--run`` (a run id or run folder), by ``--spec FILE`` (a ring across
hosts, reached at its monitor's address with the operator key of the spec's key folder, from
any host), or take the most recently started ring that is still running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import click

from ringemu.cli.options import Finite
from ringemu.errors import ConfigError, RingemuError
from ringemu.faults import ACTIVE_MONITOR, Shell, help_lines, kinds_for
from ringemu.live.client import ControlClient, RingUnreachable
from ringemu.live.paths import RingInfo, find_ring, same_process
from ringemu.live.procutil import end_groups

RUN_OPTION = click.option("--run", "which", metavar="RUN",
                          help="Run id or run folder of the ring (default: the newest running).")
SPEC_OPTION = click.option("--spec", "spec_file", type=click.Path(dir_okay=False),
                           metavar="FILE",
                           help="The ring of this spec, at its monitor's address (from any host "
                                "holding the operator key).")


def ring_of(which: str | None, spec_file: str | None):
    """The ring a command acts on (see the module docstring)."""
    if spec_file is None:
        return find_ring(which)
    if which is not None:
        raise click.UsageError("give --run or --spec, not both")
    from ringemu.cli.spec_run import load
    from ringemu.live.client import info_for_spec

    spec = load(spec_file)
    spec.check_keys(False, [], operator=True)
    return info_for_spec(spec)


def ask(info: RingInfo, request: dict, as_json: bool) -> dict:
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
@SPEC_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the monitor's reply as JSON.")
def inject(kind: str, seconds: float | None, station: int | str | None, which: str | None,
           spec_file: str | None, as_json: bool) -> int:
    kind = kind.lower()
    if seconds is not None and kind != "pause":
        raise click.UsageError("SECONDS is only valid for 'pause'")
    info = ring_of(which, spec_file)
    reply = ask(info, {"cmd": "inject", "kind": kind, "arg": seconds,
                        "station": None if station == ACTIVE_MONITOR else station,
                        "active_monitor": station == ACTIVE_MONITOR}, as_json)
    if not as_json:
        extra = f" for {seconds:g} s" if kind == "pause" else ""
        click.echo(f"injected {kind}{extra} at station {reply['station']} of ring {info.run_id} "
                   f"(fault #{reply['fault_id']})")
    return 0


@click.command()
@RUN_OPTION
@SPEC_OPTION
@click.option("--timeout", type=Finite(0.1, 3600), default=5.0, show_default=True,
              help="Seconds to wait for the ring to end before ending its processes directly.")
def down(which: str | None, spec_file: str | None, timeout: float) -> int:
    """Stop a running ring: every process it started, and nothing else.

    A ring started with 'up --ssh' is ended on every host: the processes recorded there are
    ended over ssh. With --spec, the ring's monitor is asked to stop the whole ring (every
    station on every host), from any host holding the operator key.
    """
    if spec_file is not None:
        return _down_spec(ring_of(which, spec_file))
    info = find_ring(which)
    launcher = info.launcher
    local = [p for p in info.processes if not p.get("host") or p.get("role") == "ssh"]
    remote = [p for p in info.processes
              if p.get("host") and p.get("role") != "ssh" and p.get("exit") is None]
    running = [p for p in [launcher, *local] if same_process(p["pid"], p.get("start_time"))]
    if not running and not remote:
        click.echo(f"ring {info.run_id} is not running (it has ended); nothing to stop; "
                   f"records in {info.run_dir}")
        return 0
    if same_process(launcher["pid"], launcher.get("start_time")):
        os.kill(launcher["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and same_process(launcher["pid"],
                                                           launcher.get("start_time")):
            time.sleep(0.02)
        info = _final(info)
        local = [p for p in info.processes if not p.get("host") or p.get("role") == "ssh"]
    # whatever is left (a launcher that died or hangs): end the recorded groups ourselves
    leftovers = [p for p in local if same_process(p["pid"], p.get("start_time"))]
    if leftovers:
        end_groups(leftovers, grace=0.5)
    problems = []
    if info.remote and not same_process(launcher["pid"], launcher.get("start_time")):
        from ringemu.live.remote import end_recorded

        problems = end_recorded(info)
    shutil.rmtree(info.runtime_dir, ignore_errors=True)
    if problems:
        raise RingemuError(f"ring {info.run_id}: could not end everything: "
                           + "; ".join(problems))
    click.echo(f"ring {info.run_id} stopped ({info.stations} stations); "
               f"records in {info.run_dir}")
    return 0


def _final(info):
    """The ring's records as its launcher left them (the run folder's ``ring.json``)."""
    from ringemu.live.paths import RingInfo

    try:
        return RingInfo.load(Path(info.run_dir) / "ring.json")
    except ConfigError:
        return info


def _down_spec(info) -> int:
    try:
        reply = ControlClient.for_ring(info).request({"cmd": "stop"})
    except RingUnreachable as e:
        raise ConfigError(f"{e} (at {info.endpoints['control']})") from None
    if not reply.get("ok"):
        raise ConfigError(f"stop refused: {reply.get('error')}")
    click.echo(f"ring {info.run_id} stopped: its monitor ({info.endpoints['control']}) ends "
               "every station on every host, and each host's launcher then ends")
    return 0


@click.command()
@RUN_OPTION
@SPEC_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(which: str | None, spec_file: str | None, as_json: bool) -> int:
    """Show a running ring: phase, snapshots, alarms, hop rate, station states."""
    from ringemu.cli.up_cmd import status_line

    info = ring_of(which, spec_file)
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
@SPEC_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the monitor's reply as JSON.")
def restart(station: int, which: str | None, spec_file: str | None, as_json: bool) -> int:
    """Bring dead station STATION back: the launcher starts its process again (it resumes
    from its payload journal) and the ring inserts it between its neighbours."""
    info = ring_of(which, spec_file)
    ask(info, {"cmd": "restart", "station": station}, as_json)
    if not as_json:
        click.echo(f"station {station} of ring {info.run_id} will be started again")
    return 0
