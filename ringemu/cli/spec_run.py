"""What ``up --spec``, ``station --spec`` and ``monitor --spec`` share: reading the spec, deciding
which parts start here, checking them before anything starts, and the views of a host that
runs no monitor or runs as one host's launcher of ``up --ssh``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import click
from click.core import ParameterSource

from ringemu.cli.options import IMPAIRMENT_KEYS, LIVE, SHARED
from ringemu.core.impairments import NONE
from ringemu.errors import ConfigError
from ringemu.live.launcher import LiveRing, Parts, RingConfig
from ringemu.live.paths import proc_start_time
from ringemu.live.remote import RECORD_KEY
from ringemu.live.sockets import permit
from ringemu.live.spec import RingSpec, load_spec

HOST_OUTPUTS = ("runs_dir", "pcap")
"""Options that stay the command line's with a spec: where this host writes."""


def load(spec_file: str) -> RingSpec:
    """The spec, checked; this process may then connect to its addresses (and only those)."""
    spec = load_spec(spec_file)
    permit(frozenset(spec.addresses()))
    return spec


def spec_config(ctx: click.Context, spec: RingSpec, kw: dict) -> RingConfig:
    """The ring's configuration from the spec; an option of the ring given on the command line
    as well is refused (the spec is the one place every host reads them from)."""
    links_from = (f"the links' impairments come from {spec.path} ([impairments], [links.K]); "
                  "set them there, or change them at runtime with ringemu link")
    where = {**{n: f"the ring's options come from {spec.path} ([ring]); set them there"
                for n in (*SHARED, *LIVE, "chaos", "chaos_kinds") if n not in HOST_OUTPUTS},
             **{n: links_from for n in ("impair", *IMPAIRMENT_KEYS)}}
    for name, why in where.items():
        if name in kw and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            raise click.UsageError(f"--{name.replace('_', '-')}: with --spec {why}")
    links = {k: v for k, v in spec.impairments.items() if k is not None}
    cfg = RingConfig(stations=len(spec.stations), transport="tcp", runs_dir=kw.get("runs_dir"),
                     pcap=kw.get("pcap"), impairment=spec.impairments.get(None, NONE),
                     link_impairments=links, **spec.options)
    cfg.validate()
    return cfg


def parts_for(spec: RingSpec, host: str | None) -> Parts:
    """The parts of ``host`` (default: of every host of the spec whose address is this
    machine's), checked: addresses ours, ports free, keys present."""
    if host is not None:
        spec.host(host)
        names = [host]
    else:
        names = spec.local_hosts()
        if not names:
            listed = ", ".join(f"{h.name} ({h.address})" for h in spec.hosts.values())
            raise ConfigError(f"{spec.path}: none of its hosts is this machine ({listed}); "
                              "give --host NAME, or start every host with --ssh")
    monitor = spec.monitor.host in names
    stations = tuple(s.index for s in spec.stations if s.host in names)
    return checked(spec, Parts(monitor, stations, names[0] if len(names) == 1 else None))


def checked(spec: RingSpec, parts: Parts) -> Parts:
    if not parts.monitor and not parts.stations:
        raise ConfigError(f"{spec.path}: host {parts.host} runs no part of this ring")
    spec.check_here(parts.monitor, parts.stations)
    spec.check_keys(parts.monitor, list(parts.stations), operator=parts.monitor)
    return parts


def run_parts(ctx: click.Context, spec_file: str, parts_of, no_dashboard: bool,
              as_json: bool, kw: dict) -> int:
    """``ringemu station`` and ``ringemu monitor``: one part, from the spec, here."""
    from ringemu.cli.options import check_outputs
    from ringemu.cli.up_cmd import serve

    spec = load(spec_file)
    cfg = spec_config(ctx, spec, kw)
    check_outputs(cfg)
    parts = checked(spec, parts_of(spec))
    return serve(LiveRing(cfg, spec, parts), no_dashboard, as_json)


def parts_view(ring: LiveRing, quiet: bool = False) -> None:
    """A host without the monitor: its stations run until they end (the ring was stopped) or
    this launcher is told to stop."""
    say = (lambda text: None) if quiet else click.echo  # noqa: E731
    say(f"{ring.parts.describe()} of the ring in {ring.spec.path if ring.spec else '?'} up on "
        f"this host; records in {ring.run_dir}")
    say("stop with Ctrl-C or 'ringemu down' here; 'ringemu down --spec FILE' with the operator "
        "key stops the whole ring")
    while True:
        for station, status in ring.poll_children():
            say(f"station {station} exited (status {status})")
        if not ring.stations_running():
            say("every station of this host has ended")
            return
        time.sleep(0.2)


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps({RECORD_KEY: record.pop("kind"), **record}) + "\n")
    sys.stdout.flush()


def remote_launcher(ring: LiveRing) -> None:
    """Make this process one host's launcher of ``up --ssh``: its own record first, its
    children's once forked, and a stop when stdin ends (the control host closed the ssh
    session, or is gone)."""
    try:
        os.setpgid(0, 0)  # a group of our own, unless we lead a session already (sshd's child)
    except OSError:
        pass
    me = os.getpid()
    host = ring.parts.host
    emit({"kind": "launcher", "host": host, "pid": me, "pgid": os.getpgid(0),
          "start_time": proc_start_time(me)})

    def forked(info) -> None:
        emit({"kind": "processes", "host": host, "processes": info.processes,
              "run_dir": info.run_dir})

    ring.on_forked = forked

    def watch() -> None:
        # os.read, not sys.stdin: a daemon thread blocked in a buffered reader's lock makes
        # the interpreter's exit a fatal error
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os.kill(me, signal.SIGTERM)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
