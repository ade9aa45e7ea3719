"""``--scenario FILE.toml`` for ``ringemu run`` and ``ringemu sim`` (see ``ringemu.scenario``).

The option is eager: before any other option is read, the file's options become the command's
defaults (click's ``default_map``), each first read by that very option's type so a bad value
is refused naming the file and line; its faults become ``--inject`` entries; its link
impairments become the impairment options. The command line still wins over the file. At the
end the command hands its summary to ``finish``, which checks the file's expectations.
"""

from __future__ import annotations

import click

from ringemu.errors import ConfigError
from ringemu.faults import Shell, parse_fault
from ringemu.scenario import SECTIONS, Scenario, check, load

KEY = "ringemu.scenario"
NOT_OPTIONS = {"scenario", "injects", "help"}
"""Parameters a scenario does not set as options (faults go in ``[[faults]]``)."""


def scenario_option(shell: Shell):
    return click.option(
        "--scenario", metavar="FILE.toml", type=click.Path(dir_okay=False), is_eager=True,
        expose_value=False, callback=lambda ctx, param, value: _apply(ctx, value, shell),
        help="Read stations, options, faults, impairments and expectations from a TOML "
             "scenario (see examples/); options on the command line win over the file's. "
             "With an [expect] table the exit status says whether it was met (0) or not (1).")


def _other(shell: Shell) -> click.Command:
    if shell is Shell.LIVE:
        from ringemu.cli.sim_cmd import sim

        return sim
    from ringemu.cli.run_cmd import run

    return run


def _names(cmd: click.Command) -> dict[str, click.Parameter]:
    out: dict[str, click.Parameter] = {}
    for p in cmd.params:
        if p.name in NOT_OPTIONS or p.name is None:
            continue
        out[p.name] = p
        for o in list(p.opts) + list(p.secondary_opts):
            if o.startswith("--"):
                out[o[2:]] = p
    return out


def _apply(ctx: click.Context, value: str | None, shell: Shell) -> None:
    if value is None:
        return
    sc = load(value, shell)
    mine, theirs = _names(ctx.command), _names(_other(shell))
    here, there = SECTIONS[shell], SECTIONS[Shell.SIM if shell is Shell.LIVE else Shell.LIVE]
    defaults = dict(ctx.default_map or {})
    for key, (val, line, own) in sc.options.items():
        p = mine.get(key) or mine.get(key.replace("_", "-"))
        other = theirs.get(key) or theirs.get(key.replace("_", "-"))
        if p is None:
            hint = (f" (an option of ringemu {there}: put it under [{there}])" if other
                    else "")
            raise sc.error(line, f"{key}: not an option of ringemu {here}{hint}")
        if not own and other is None:
            raise sc.error(line, f"{key}: only ringemu {here} has this option: put it under "
                                 f"[{here}]")
        try:
            p.type_cast_value(ctx, val)
        except click.BadParameter as e:
            raise sc.error(line, f"{key}: {e.format_message()}") from None
        defaults[p.name] = val
    if sc.injects:
        defaults["injects"] = tuple(sc.injects)
    if sc.impairments:
        defaults.update(_impairments(sc, mine))
    ctx.default_map = defaults
    ctx.meta[KEY] = sc


def _impairments(sc: Scenario, mine: dict[str, click.Parameter]) -> dict:
    """The ``[impairments]`` table as the impairment options: every key as its option for
    every link, ``links = { 3 = { delay = "5ms" } }`` as ``--impair 3:delay=5ms``. The
    impairment model (``ringemu.core.impairments.Impairment.from_mapping``) reads them."""
    line = sc.line_of(("impairments",))
    try:
        from ringemu.core.impairments import Impairment  # the link impairments' model
    except ImportError:
        raise sc.error(line, "impairments: this ringemu has no link impairments yet; remove "
                             "the [impairments] table") from None
    table = dict(sc.impairments)
    links = table.pop("links", {})
    out: dict = {}
    try:
        Impairment.from_mapping(table)
        if not isinstance(links, dict):
            raise ValueError("links must be a table of link numbers and impairments")
        for imp in links.values():
            Impairment.from_mapping(imp)
    except ValueError as e:
        raise sc.error(line, f"impairments: {e}") from None
    for key, val in table.items():
        p = mine.get(key) or mine.get(key.replace("_", "-"))
        if p is None:
            raise sc.error(sc.line_of(("impairments",), key),
                           f"impairments: {key}: this command takes no such option")
        out[p.name] = str(val)
    if links:
        if "impair" not in mine:
            raise sc.error(line, "impairments: this command takes no per-link impairments")
        out["impair"] = tuple(f"{k}:" + ",".join(f"{kk}={vv}" for kk, vv in imp.items())
                              for k, imp in links.items())
    return out


def active(ctx: click.Context) -> Scenario | None:
    return ctx.meta.get(KEY)


def explain(ctx: click.Context, err: ConfigError) -> ConfigError:
    """A parameter model's error about an option the scenario set, with the file and line."""
    sc = active(ctx)
    if sc is None:
        return err
    text = str(err)
    for i, spec in enumerate(sc.injects):
        if text.startswith(f"--inject {parse_fault(spec, sc.shell, 'time')}:"):
            key = "station" if "no station" in text else "at" if "after the end" in text else None
            return sc.error(sc.line_of(("faults", i), key), f"faults[{i + 1}]: " + text[9:])
    for key, (_, line, _) in sc.options.items():
        if f"--{key.replace('_', '-')}" in text:
            return sc.error(line, text)
    return err


def finish(ctx: click.Context, data: dict, events: dict[str, int],
           latency_ms: list[tuple[str, float]], command: str) -> int | None:
    """Check the scenario's expectations: None when there are none, else the exit status
    (0 met, 1 not: one line on stderr for each that failed)."""
    sc = active(ctx)
    if sc is None or not sc.expect:
        return None
    fails = check(sc, data, events, latency_ms)
    for line in fails:
        click.echo(f"ringemu {command}: expectation not met: {line}", err=True)
    if not fails:
        click.echo(f"ringemu {command}: {sc.path}: every expectation met "
                   f"({', '.join(sc.expect)})", err=True)
    return 1 if fails else 0
