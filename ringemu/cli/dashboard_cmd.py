"""``ringemu dashboard``: watch a running ring, or replay a finished run, in the dashboard.

Any number of dashboards may attach to one ring (each is just another subscriber to the
monitor's events); leaving one only detaches it, the ring keeps running. ``ringemu up`` opens
its own dashboard, which does end the ring when it leaves.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ringemu.dashboard.keys import keys_summary
from ringemu.cli.options import Finite
from ringemu.errors import ConfigError
from ringemu.live.paths import find_ring


HELP = f"""Open the dashboard on a running ring, or replay RUN_FOLDER's events.jsonl.

\b
ringemu dashboard                    attach to the newest running ring
ringemu dashboard --run RUN          attach to that ring
ringemu dashboard --spec ring.toml   attach to a spec ring's monitor, from any host
                                     holding its operator key
ringemu dashboard runs/latest        replay a finished run (--speed 4, --speed 0)

{keys_summary()} Quitting detaches: the ring keeps running.
"""


@click.command(help=HELP)
@click.argument("run_folder", required=False, type=click.Path(path_type=Path))
@click.option("--run", "which", metavar="RUN",
              help="Attach to this running ring (run id or run folder; default: the newest).")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Attach to the ring of this spec at its monitor's address, with the operator "
                   "key of its key folder (from any host).")
@click.option("--speed", type=Finite(0, 1e6), default=None,
              help="Replay speed, in times real time (default 1; 0 replays at once).")
def dashboard(run_folder: Path | None, which: str | None, spec_file: str | None,
              speed: float | None) -> int:
    """See ``HELP`` (built here because its fault keys come from the fault registry)."""
    from ringemu.dashboard.source import events_file

    if run_folder is not None and (which is not None or spec_file is not None):
        raise click.UsageError("give RUN_FOLDER (replay) or --run/--spec (attach), not both")
    if run_folder is None and speed is not None:
        raise click.UsageError("--speed is only for a replay (give RUN_FOLDER)")
    if run_folder is not None:
        events_file(run_folder)  # a clear error now, before the screen is taken over
        info = None
    elif spec_file is not None:
        from ringemu.cli.control_cmds import ring_of
        from ringemu.live.client import ControlClient, RingUnreachable

        info = ring_of(which, spec_file)
        try:
            ControlClient.for_ring(info).request({"cmd": "ping"}, timeout=3.0)
        except RingUnreachable as e:
            raise ConfigError(f"{e} (at {info.endpoints['control']})") from None
    else:
        info = find_ring(which)
        if not info.launcher_alive():
            raise ConfigError(f"ring {info.run_id} is not running; replay it with "
                              f"'ringemu dashboard {info.run_dir}'")
    in_browser = os.environ.get("TEXTUAL_DRIVER", "").startswith("textual.drivers.web_driver")
    if in_browser:  # started by 'ringemu up --web' for one browser tab (ringemu.webview)
        from ringemu.live.procutil import die_with_parent

        die_with_parent()
    elif not sys.stdout.isatty():
        raise ConfigError("the dashboard needs a terminal (stdout is not one); "
                          "use 'ringemu status' or 'ringemu up --no-dashboard --json'")
    from ringemu.dashboard.app import run_dashboard

    if info is not None:
        run_dashboard(info=info)
    else:
        run_dashboard(replay=run_folder, speed=1.0 if speed is None else speed)
    return 0
