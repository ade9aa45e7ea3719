"""``ringemu spec``, ``ringemu keys``, ``ringemu station`` and ``ringemu monitor``: a ring across
hosts (``ringemu.live.spec``); and the hidden ``ringemu end-groups`` that ``down`` runs over ssh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ringemu.errors import ConfigError
from ringemu.params import MAX_STATIONS

SPEC_OPTION = click.option("--spec", "spec_file", type=click.Path(dir_okay=False),
                           metavar="FILE", required=True,
                           help="The ring spec ('ringemu spec' writes a starting one).")


@click.command()
@click.option("--stations", "-n", type=click.IntRange(2, MAX_STATIONS), default=8,
              show_default=True, help="Stations in the ring.")
@click.option("--hosts", default="127.0.0.1", show_default=True, metavar="A,B,...",
              help="Comma list of the hosts (IP addresses, or names this machine resolves); "
                   "stations are placed in blocks, the monitor on the first.")
@click.option("--keys", "keys_dir", default="keys", show_default=True, metavar="DIR",
              help="The key folder the spec names ('ringemu keys DIR'), relative to the spec.")
@click.option("--port", type=click.IntRange(1, 65535), default=7000,
              show_default=True, help="First port: the monitor's three, then two per station.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the spec to FILE (never over an existing one) instead of stdout.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Instead: check the spec FILE (and, with --host, that host's parts can start "
                   "here) and say what each host runs.")
@click.option("--host", metavar="NAME", help="With --check: the host to check here.")
@click.pass_context
def spec(ctx: click.Context, stations: int, hosts: str, keys_dir: str, port: int,
         output: str | None, check_file: str | None, host: str | None) -> int:
    """Write a starting ring spec (TOML): hosts, the monitor's and each station's address and
    ports, the ring's options and the key folder; or check one with --check.

    \b
    ringemu keys keys --stations 8                  key pairs for every part
    ringemu spec --stations 8 --hosts 10.0.0.1,10.0.0.2 -o ring.toml
    ringemu up --spec ring.toml                     on each host: its parts
    ringemu up --spec ring.toml --ssh               or every host's, from here
    """
    if check_file is not None:
        given = [n for n in ("stations", "hosts", "keys_dir", "port", "output")
                 if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--check reads a spec; --{given[0].replace('_', '-')} "
                                   "is for writing one")
        return _check(check_file, host)
    if host is not None:
        raise click.UsageError("--host is for --check")
    from ringemu.live.spec_template import starting_spec

    if port + 11 + 2 * (stations - 1) > 65535:
        raise click.BadParameter(f"{stations} stations need ports up to "
                                 f"{port + 11 + 2 * (stations - 1)}, past 65535",
                                 param_hint="--port")
    names = [h.strip() for h in hosts.split(",")]
    if not all(names):
        raise click.BadParameter("an empty host name", param_hint="--hosts")
    if len(set(names)) != len(names):
        raise click.BadParameter("a host is named twice", param_hint="--hosts")
    if len(names) > stations:
        raise click.BadParameter(f"{len(names)} hosts for {stations} stations: a host would "
                                 "run nothing", param_hint="--hosts")
    for n in names:
        if any(c in n for c in "\"'\\\n\r\t ") or len(n) > 253:
            raise click.BadParameter(f"{n!r} is not a host name or address",
                                     param_hint="--hosts")
    text = starting_spec(stations, names, keys_dir, port)
    if output is None:
        click.echo(text, nl=False)
        return 0
    try:
        with open(output, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise ConfigError(f"--output {output}: the file exists; a spec is never "
                          "overwritten") from None
    except OSError as e:
        raise ConfigError(f"--output {output}: {e.strerror}") from None
    click.echo(f"wrote {output}: {stations} stations on {len(names)} host(s); make its keys "
               f"with 'ringemu keys {Path(output).parent / keys_dir} --stations {stations}'",
               err=True)
    return 0


def _check(spec_file: str, host: str | None) -> int:
    from ringemu.cli.spec_run import checked, load
    from ringemu.live.launcher import Parts

    s = load(spec_file)
    lines = []
    for name in s.used_hosts():
        monitor, stations = s.parts_on(name)
        lines.append(f"  {name} ({s.hosts[name].address}): "
                     f"{Parts(monitor, tuple(stations), name).describe()}")
    if host is not None:
        s.host(host)
        monitor, stations = s.parts_on(host)
        parts = checked(s, Parts(monitor, tuple(stations), host))
        click.echo(f"{s.path}: host {host} can start {parts.describe()} here "
                   "(addresses, ports and keys checked)")
        return 0
    s.check_keys(False, [], operator=False)
    click.echo(f"{s.path}: a ring of {len(s.stations)} stations on {len(lines)} host(s)")
    for line in lines:
        click.echo(line)
    return 0


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--stations", "-n", type=click.IntRange(2, MAX_STATIONS), default=8,
              show_default=True, help="Stations to make key pairs for.")
def keys(folder: Path, stations: int) -> int:
    """Make CURVE key pairs in FOLDER: the monitor's, each station's and an operator's.

    Each pair is two files in ZeroMQ's certificate format: NAME.key (the public key: copy
    every one to every host) and NAME.key_secret (0600: only on the host that runs NAME;
    operator.key_secret wherever the ring is controlled from: inject, down, status, the
    dashboard). Keys are never overwritten.
    """
    from ringemu.live.keyfiles import make_keys

    written = make_keys(folder, stations)
    click.echo(f"{folder}: key pairs for the monitor, stations 0..{stations - 1} and the "
               f"operator ({len(written)} files; *.key_secret are private, mode 0600)")
    return 0


VIEW = [click.option("--no-dashboard", is_flag=True, help="A text view, not the dashboard."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print every event (or, without the monitor, nothing but errors) as "
                          "JSON lines.")]


HOST_OUTPUTS = [
    click.option("--pcap", type=click.Path(dir_okay=False),
                 help="Also capture every frame of this host's stations into this pcap file."),
    click.option("--runs-dir", type=click.Path(file_okay=False),
                 help="Where run folders go (default: $RINGEMU_RUNS or ./runs)."),
]


def _view(f):
    for option in reversed(VIEW):
        f = option(f)
    return f


def _outputs(f):
    for option in reversed(HOST_OUTPUTS):
        f = option(f)
    return f


@click.command()
@SPEC_OPTION
@click.option("--id", "index", type=click.IntRange(0, MAX_STATIONS - 1), required=True,
              help="The station to start (its address in the spec must be this machine's).")
@_outputs
@click.pass_context
def station(ctx: click.Context, spec_file: str, index: int, **kw) -> int:
    """Start one station of a spec ring here, until Ctrl-C or 'ringemu down'.

    It binds the address and ports the spec gives it, with its own key from the spec's key
    folder, and joins the ring when the monitor links it. The ring's options come from the spec.
    """
    from ringemu.cli.spec_run import run_parts
    from ringemu.live.launcher import Parts

    def parts(s):
        st = s.station(index)
        return Parts(False, (index,), st.host)

    return run_parts(ctx, spec_file, parts, True, False, kw)


@click.command()
@SPEC_OPTION
@_view
@_outputs
@click.pass_context
def monitor(ctx: click.Context, spec_file: str, no_dashboard: bool, as_json: bool, **kw) -> int:
    """Start the monitor of a spec ring here (no station), and watch the ring.

    The stations are started on their hosts ('ringemu station --spec FILE --id K' or 'ringemu
    up --spec FILE'); the monitor waits for them (the spec's startup-timeout), links them and
    starts the token. Needs the monitor's and the operator's secret keys.
    """
    from ringemu.cli.spec_run import run_parts
    from ringemu.live.launcher import Parts

    return run_parts(ctx, spec_file, lambda s: Parts(True, (), s.monitor.host), no_dashboard,
                     as_json, kw)


@click.command(name="end-groups", hidden=True)
@click.argument("records")
@click.option("--grace", type=click.FloatRange(0, 60), default=1.0)
def end_groups_cmd(records: str, grace: float) -> int:
    """End the recorded process groups RECORDS (JSON: [{pid, pgid, start_time}]) whose leader
    is still the process recorded (same kernel start time); what 'ringemu down' runs over
    ssh on a host where 'up --ssh' started processes."""
    from ringemu.live.paths import same_process
    from ringemu.live.procutil import end_groups

    try:
        recs = json.loads(records)
        if not isinstance(recs, list):
            raise ValueError("not a list")
        clean = []
        for r in recs:
            if type(r.get("pid")) is not int or type(r.get("pgid")) is not int \
                    or type(r.get("start_time")) is not int:
                raise ValueError(f"bad record {r!r}")
            clean.append({"pid": r["pid"], "pgid": r["pgid"], "start_time": r["start_time"]})
    except (ValueError, AttributeError) as e:
        raise ConfigError(f"end-groups: {e}") from None
    live = [r for r in clean if same_process(r["pid"], r["start_time"])]
    end_groups(live, grace=grace)
    left = [r["pid"] for r in live if same_process(r["pid"], r["start_time"])]
    print(json.dumps({"ended": len(live) - len(left), "left": left}), file=sys.stdout)
    return 0 if not left else 1
