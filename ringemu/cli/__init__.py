"""The ``ringemu`` command: one click group, one module per subcommand.

Errors from the command line or from input files become one line on stderr and a non-zero exit
(2 for usage and input errors), never a traceback.
"""

from __future__ import annotations

import sys

import click

from ringemu import __version__
from ringemu.errors import ConfigError, RingemuError, RingFailed


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ringemu")
def cli() -> None:
    """Token-ring (IEEE 802.5) emulator with Chandy-Lamport token-loss detection.

    \b
    Live ring:    ringemu up --stations 8          (Ctrl-C or 'ringemu down' to stop)
    Inject:       ringemu inject lose --station 3
    Capture:      ringemu capture -w - | tshark -i -
    Impair:       ringemu link 3 --delay 5ms --loss 1%   (ringemu inject cut --station 3)
    Scripted run: ringemu run -n 8 -d 10 --inject lose@3 --inject dup@6 --json
    Simulate:     ringemu sim --stations 16 --rotations 200 --inject lose@50
    Conformance:  ringemu conform TOP EVENTS --delays FILE
    Report:       ringemu report runs/latest -o report.html
    Across hosts: ringemu keys keys; ringemu spec --hosts A,B -o ring.toml;
                  ringemu up --spec ring.toml [--ssh]
    """


def _register() -> None:
    from ringemu.cli import (capture_cmd, check_cmd, conform_cmd, control_cmds, dashboard_cmd,
                             link_cmd, report_cmd, run_cmd, sim_cmd, spec_cmds, up_cmd)

    cli.add_command(up_cmd.up)
    cli.add_command(control_cmds.inject)
    cli.add_command(control_cmds.down)
    cli.add_command(control_cmds.status)
    cli.add_command(control_cmds.restart)
    cli.add_command(link_cmd.link)
    cli.add_command(dashboard_cmd.dashboard)
    cli.add_command(run_cmd.run)
    cli.add_command(sim_cmd.sim)
    cli.add_command(conform_cmd.conform)
    cli.add_command(report_cmd.report)
    cli.add_command(check_cmd.check)
    cli.add_command(capture_cmd.capture)
    cli.add_command(spec_cmds.spec)
    cli.add_command(spec_cmds.keys)
    cli.add_command(spec_cmds.station)
    cli.add_command(spec_cmds.monitor)
    cli.add_command(spec_cmds.end_groups_cmd)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the group and turn every expected error into one line."""
    _register()
    try:
        rv = cli.main(args=argv, prog_name="ringemu", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("ringemu: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        hint = f" (see 'ringemu {e.ctx.command_path.split(' ', 1)[1]} --help')" if (
            e.ctx and " " in e.ctx.command_path) else " (see 'ringemu --help')"
        click.echo(f"ringemu: error: {e.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"ringemu: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except ConfigError as e:
        click.echo(f"ringemu: error: {e}", err=True)
        sys.exit(2)
    except RingFailed as e:
        click.echo(f"ringemu: error: {e}", err=True)
        sys.exit(3)
    except RingemuError as e:
        click.echo(f"ringemu: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("ringemu: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
