"""The starting spec ``ringemu spec --stations N --hosts a,b,c`` writes: every key present and
commented, so a user edits values rather than looks names up.

Stations are placed in contiguous blocks, one block per host (a link inside a host is cheaper
than one across; with blocks only one link per host boundary crosses the network), the monitor
on the first host. Ports count up from ``base`` and differ across hosts too, so the same spec
also works with every host on one machine.
"""

from __future__ import annotations

import ipaddress
import re

from ringemu.params import RingParams

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(name: str) -> str:
    return name if _BARE.match(name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') \
        + '"'


def toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def placement(stations: int, hosts: int) -> list[int]:
    """Host index of each station: contiguous blocks, sizes differing by one at most."""
    return [k * hosts // stations for k in range(stations)]


def starting_spec(stations: int, hosts: list[str], keys: str = "keys", base: int = 7000) -> str:
    d = RingParams()
    out = [
        "# A ringemu ring spec: where each part of one ring runs. Check it with",
        "# 'ringemu spec --check FILE'; start it on each host with 'ringemu up --spec FILE' (that",
        "# host's parts), or from one control host with 'ringemu up --spec FILE --ssh'.",
        "",
        "[ring]  # the options of 'ringemu up', same names and units",
        f"snapshot-interval = {d.snapshot_interval * 1000:g}  # ms (0: no periodic snapshots)",
        f"snapshot-deadline = {d.snapshot_deadline * 1000:g}  # ms",
        f'recovery = "{d.recovery.value}"  # purge | rollback | none',
        f"load = {d.load:g}  # share of rotations carrying a busy frame",
        f"payload-size = {d.payload_size}",
        f"seed = {d.seed}",
        f"active-monitor = {d.active_monitor}",
        "suspicions = true",
        "restart = false  # start a dead station again, on its own host",
        "restart-delay = 0.5  # s",
        "startup-timeout = 60  # s the monitor waits for every station's hello",
        "",
        "[keys]",
        f"dir = {toml_str(keys)}  # 'ringemu keys {keys} --stations {stations}'; relative to "
        "this file",
        "",
        "# [ssh]",
        '# options = ["-F", "ssh_config"]  # extra arguments to every ssh call of up --ssh',
        "",
    ]
    for name in hosts:
        try:
            ipaddress.ip_address(name)
            note = ""
        except ValueError:
            note = "  # an IP address, or a name this machine resolves"
        out += [
            f"[hosts.{toml_key(name)}]",
            f"address = {toml_str(name)}{note}",
            f"ssh = {toml_str(name)}  # ssh destination for up --ssh (user@host, a Host of "
            "~/.ssh/config)",
            '# ringemu = "ringemu"  # the command that runs ringemu there',
            "# spec = \"/path/to/this/spec/there\"  # default: the same path as here",
            "",
        ]
    out += [
        "[monitor]",
        f"host = {toml_str(hosts[0])}",
        f"report = {base}",
        f"control = {base + 1}",
        f"events = {base + 2}",
        "",
    ]
    where = placement(stations, len(hosts))
    for k in range(stations):
        out += [
            f"[stations.{k}]",
            f"host = {toml_str(hosts[where[k]])}",
            f"ring = {base + 10 + 2 * k}",
            f"cmd = {base + 11 + 2 * k}",
            "",
        ]
    out += [
        "# Link impairments (docs/impairments.md): [impairments] for every link, [links.K]",
        "# for the link from station K to the next (on top of [impairments]); keys: delay,",
        "# jitter, loss, burst-loss, dup, reorder, bandwidth. For example:",
        "# [impairments]",
        "# delay = \"2ms\"",
        "# [links.3]",
        "# loss = \"1%\"",
    ]
    return "\n".join(out) + "\n"
