"""``ringemu report``: write one self-contained HTML report of a run (see ``ringemu.report``)."""

from __future__ import annotations

from pathlib import Path

import click

from ringemu.cli.options import check_writable_file
from ringemu.errors import ConfigError


@click.command()
@click.argument("run", metavar="RUN")
@click.option("-o", "--output", default="report.html", show_default=True,
              type=click.Path(dir_okay=False), help="The HTML file to write ('-': stdout).")
@click.option("--snapshot", "sid", type=click.IntRange(0, 2**63 - 1), default=None,
              metavar="ID", help="The snapshot drawn as a space-time diagram (default: the "
                                 "first alarm's, else the first traced one).")
def report(run: str, output: str, sid: int | None) -> int:
    """Write an HTML report of RUN: a run folder, a run id, 'latest', or an events file
    written by 'ringemu sim --events FILE'.

    \b
    The page is one file with nothing to fetch (it works offline): the token count of every
    snapshot over time with faults, alarms, purges, rollbacks and membership changes; the
    detection latency of each fault; the hop rate; each station's traffic and drops; a
    space-time diagram of one snapshot; the summary and the checker's account of every
    fault. A run still going is reported as far as it has got.

    \b
    Examples:
      ringemu report runs/latest -o report.html
      ringemu sim -n 6 -r 300 --inject lose@100 --events sim.jsonl && ringemu report sim.jsonl
    """
    from ringemu.report.page import default_snapshot, render
    from ringemu.report.run import load_run

    if output != "-":
        check_writable_file(output, "-o")
    data = load_run(run)
    if sid is None:
        sid = default_snapshot(data)
    elif data.snapshot_event(sid) is None:
        done = [r.snapshot_id for r in data.history.results]
        span = f"{min(done)}..{max(done)}" if done else "none"
        raise ConfigError(f"--snapshot {sid}: no such snapshot in {data.path} "
                          f"(completed snapshots: {span})")
    html = render(data, sid)
    if output == "-":
        click.echo(html)
    else:
        Path(output).write_text(html, encoding="utf-8")
        click.echo(f"ringemu report: {output} ({len(html) // 1024} kB; snapshot "
                   f"{sid} drawn)", err=True)
    return 0
