"""``ringemu link``: change what a running ring's links do (delay, jitter, loss...), or clear it.

The options are the very impairment options of ``up``, ``run`` and ``sim`` (one definition in
``ringemu.cli.options``), read by one parser (``Impairment.from_mapping``). The monitor forwards
the setting to the station whose outgoing link it is (every station for ``all``) and records it
as an ``impairment`` event.
"""

from __future__ import annotations

import click

from ringemu.cli.control_cmds import RUN_OPTION, ask
from ringemu.cli.options import impairment_from_options, impairment_options, warn_reordering
from ringemu.live.paths import find_ring


def _options(f):
    for option in reversed(impairment_options("the link")):
        f = option(f)
    return f


@click.command()
@click.argument("target", metavar="K|all")
@_options
@click.option("--clear", is_flag=True, help="Take every impairment off the link.")
@RUN_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the monitor's reply as JSON.")
def link(target: str, clear: bool, which: str | None, as_json: bool, **kw) -> int:
    """Impair link K of a running ring (station K's outgoing link, to its downstream
    neighbour), or every link with 'all', from now on; the options replace what the link did
    (an option left out is off). --clear takes every impairment off.

    \b
    Examples:
      ringemu link 3 --delay 5ms --jitter 1ms --loss 1%
      ringemu link all --burst-loss 1%/30%
      ringemu link 3 --clear
    """
    if target == "all":
        station = None
    else:
        try:
            station = int(target)
        except ValueError:
            raise click.UsageError(f"K must be a link number or 'all', not {target!r}") from None
        if station < 0:
            raise click.UsageError(f"K must be a link number or 'all', not {target!r}")
    imp = impairment_from_options(kw)
    if clear and imp is not None:
        raise click.UsageError("--clear takes no impairment options")
    if not clear and imp is None:
        raise click.UsageError("give an impairment (--delay, --loss, ...) or --clear")
    if imp is not None:
        warn_reordering([imp])
    info = find_ring(which)
    reply = ask(info, {"cmd": "link", "station": station,
                       "impairment": None if imp is None else imp.to_json()}, as_json)
    if not as_json:
        name = "every link" if station is None else f"link {station}"
        click.echo(f"{name} of ring {info.run_id}: {reply.get('impairment')}")
    return 0
