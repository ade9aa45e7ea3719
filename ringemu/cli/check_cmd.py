"""``ringemu check``: judge a recorded run again with the ground-truth checker.

A run's verdict is not only what its monitor said at the time: the checker rebuilds the true
token count at every cut from the run's own events, so any run folder (or a simulator's
``--events`` file) can be judged again, for example after the checker itself improved, or a
run whose ``ringemu run`` was interrupted.
"""

from __future__ import annotations

import json

import click

from ringemu.summary import exit_code, human_lines


@click.command()
@click.argument("run", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the judgement as one JSON object.")
def check(run: str, as_json: bool) -> int:
    """Judge RUN again with the ground-truth checker: a run folder, a run id, 'latest', or an
    events file written by 'ringemu sim --events FILE'.

    \b
    Exit status: 0 valid, 1 invalid (a missed fault, a wrong count or a false alarm), 2 unknown
    (a masked or refused fault) or a bad RUN. Times are milliseconds (of virtual time for a
    simulator's events).

    \b
    Examples:
      ringemu check latest
      ringemu sim -n 8 -r 300 --inject lose@100 --events sim.jsonl && ringemu check sim.jsonl
    """
    from ringemu.report.run import load_run

    data = load_run(run)
    summary = dict(data.summary, run=data.name, shell=data.shell, finished=data.finished)
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        state = "finished" if data.finished else "still running (judged so far)"
        click.echo(f"ringemu check {data.name} ({data.shell}, {state}): valid {summary['valid']}")
        for line in human_lines(summary, "detection_latency_ms", "ms"):
            click.echo(line)
    return exit_code(summary["valid"])
