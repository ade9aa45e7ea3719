"""A table of bad inputs through every command: each is refused up front, in one line.

For every row the command must exit 2, print exactly one line on stderr that starts with
``ringemu: error:`` and names what was wrong, print nothing on stdout, and leave nothing running:
each command runs in a session of its own, and afterwards no process of that session may be
left (a ring started by mistake would leave its stations there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD = [
    # ringemu sim
    (["sim", "--stations", "1"], "--stations"),
    (["sim", "--stations", "x"], "--stations"),
    (["sim", "--rotations", "nan"], "--rotations"),
    (["sim", "--rotations", "inf"], "--rotations"),
    (["sim", "--rotations", "-1"], "--rotations"),
    (["sim", "--load", "nan"], "--load"),
    (["sim", "--load", "1"], "--load"),
    (["sim", "--load", "-0.1"], "--load"),
    (["sim", "--payload-size", "-1"], "--payload-size"),
    (["sim", "--seed", "x"], "--seed"),
    (["sim", "--link-delay-us", "nan"], "--link-delay-us"),
    (["sim", "--jitter-us", "inf"], "--jitter-us"),
    (["sim", "--snapshot-every", "nan"], "--snapshot-every"),
    (["sim", "--chaos", "nan"], "--chaos"),
    (["sim", "--chaos", "-1"], "--chaos"),
    (["sim", "--chaos", "1", "--chaos-kinds", "zap"], "--chaos-kinds"),
    (["sim", "--active-monitor", "9"], "--active-monitor"),
    (["sim", "--recovery", "pray"], "--recovery"),
    (["sim", "--inject", "boom@1"], "unknown fault 'boom'"),
    (["sim", "--inject", "lose@nan"], "not a finite number"),
    (["sim", "--inject", "lose@inf"], "not a finite number"),
    (["sim", "--inject", "lose@-1"], "must not be negative"),
    (["sim", "--inject", "lose@1:99"], "no station 99"),
    (["sim", "--inject", "lose@1:x"], "not an integer"),
    (["sim", "--inject", "pause@1:2:nan"], "not a finite number"),
    (["sim", "--inject", "pause@1:2:1000"], "at most 60"),
    (["sim", "--inject", "lose@1:2:3"], "too many"),
    (["sim", "--pcap", "/nonexistent-dir/x.pcap"], "/nonexistent-dir/x.pcap"),
    (["sim", "--events", "/nonexistent-dir/x.jsonl"], "/nonexistent-dir/x.jsonl"),
    (["sim", "--nope"], "No such option"),
    (["sim", "--delay", "5"], "--delay: '5' needs a unit"),
    (["sim", "--delay", "nanms"], "--delay"),
    (["sim", "--jitter", "-1ms"], "--jitter"),
    (["sim", "--loss", "nan"], "--loss"),
    (["sim", "--loss", "150%"], "--loss"),
    (["sim", "--dup", "inf"], "--dup"),
    (["sim", "--reorder", "-0.5"], "--reorder"),
    (["sim", "--bandwidth", "inf"], "--bandwidth"),
    (["sim", "--bandwidth", "10 furlongs"], "--bandwidth"),
    (["sim", "--burst-loss", "1%"], "--burst-loss"),
    (["sim", "--burst-loss", "1%/nan"], "--burst-loss"),
    (["sim", "--impair", "9:delay=1ms"], "no link 9"),
    (["sim", "--impair", "3:lose=1%"], "unknown impairment key 'lose'"),
    (["sim", "--impair", "3:delay"], "is not KEY=VALUE"),
    (["sim", "--impair", "x:delay=1ms"], "--impair"),
    (["sim", "--impair", "3:loss=nan"], "--impair"),
    (["sim", "--inject", "cut@1:99"], "no station 99"),
    (["sim", "--inject", "heal@nan:1"], "not a finite number"),
    (["sim", "--inject", "cut@1:2:3"], "too many"),
    (["sim", "--chaos", "1", "--chaos-kinds", "lose,cut"], "chaos never draws cut"),
    # ringemu run
    (["run", "-d", "nan"], "--duration"),
    (["run", "-d", "inf"], "--duration"),
    (["run", "-d", "0"], "--duration"),
    (["run"], "--duration"),
    (["run", "-d", "1", "--snapshot-interval", "nan"], "--snapshot-interval"),
    (["run", "-d", "1", "--snapshot-interval", "-1"], "--snapshot-interval"),
    (["run", "-d", "1", "--snapshot-deadline", "inf"], "--snapshot-deadline"),
    (["run", "-d", "1", "--load", "nan"], "--load"),
    (["run", "-d", "1", "--transport", "udp"], "--transport"),
    (["run", "-d", "1", "--pin", "two"], "--pin"),
    (["run", "-d", "1", "--stations", "99999"], "--stations"),
    (["run", "-d", "1", "--chaos", "inf"], "--chaos"),
    (["run", "-d", "1", "--drain", "nan"], "--drain"),
    (["run", "-d", "1", "--inject", "lose@nan"], "not a finite number"),
    (["run", "-d", "1", "--inject", "lose@5"], "after the end of the run"),
    (["run", "-d", "1", "--inject", "pause@0.1:1:61"], "at most 60"),
    (["run", "-d", "1", "--inject", "lose@0.5:8"], "no station 8"),
    (["run", "-d", "1", "--pcap", "/nonexistent-dir/x.pcap"], "--pcap"),
    (["run", "-d", "1", "--runs-dir", "/proc/self/nope"], "--runs-dir"),
    (["run", "-d", "1", "--metrics-port", "0"], "--metrics-port"),
    (["run", "-d", "1", "--metrics-port", "70000"], "--metrics-port"),
    (["run", "-d", "1", "--metrics-port", "nan"], "--metrics-port"),
    (["run", "-d", "1", "--delay", "infms"], "--delay"),
    (["run", "-d", "1", "--loss", "2"], "--loss"),
    (["run", "-d", "1", "--impair", "4:jitter=1s", "-n", "4"], "no link 4"),
    (["run", "-d", "1", "--inject", "cut@0.5:8"], "no station 8"),
    # ringemu up
    (["up", "--snapshot-interval", "nan"], "--snapshot-interval"),
    (["up", "--metrics-port", "x"], "--metrics-port"),
    (["up", "--web", "--port", "0"], "--port"),
    (["up", "--web", "--port", "nan"], "--port"),
    (["up", "--web", "--port", "65536"], "--port"),
    (["up", "--web", "--bind", "example.org"], "--bind"),
    (["up", "--web", "--bind", "999.1.1.1"], "--bind"),
    (["up", "--port", "8080"], "--port and --bind are for --web"),
    (["up", "--web", "--json"], "--web"),
    (["up", "--load", "inf"], "--load"),
    (["up", "--pcap", "/nonexistent-dir/x.pcap"], "--pcap"),
    (["up", "--runs-dir", "/dev/null/x"], "--runs-dir"),
    (["up", "--delay", "5 parsecs"], "--delay"),
    (["up", "--bandwidth", "nan"], "--bandwidth"),
    # acting on a ring
    (["inject", "boom"], "boom"),
    (["inject", "pause", "inf"], "SECONDS"),
    (["inject", "pause", "nan"], "SECONDS"),
    (["inject", "pause", "-1"], "-1"),
    (["inject", "pause", "61"], "SECONDS"),
    (["inject", "lose", "3"], "only valid for 'pause'"),
    (["inject", "lose", "--station", "x"], "--station"),
    (["inject", "lose"], "no running ring"),
    (["inject", "lose", "--run", "no-such-run"], "no ring found"),
    (["status", "--run", "no-such-run"], "no ring found"),
    (["down", "--run", "no-such-run"], "no ring found"),
    (["down", "--timeout", "nan"], "--timeout"),
    # live capture
    (["capture"], "no running ring"),
    (["capture", "--run", "no-such-run"], "no ring found"),
    (["capture", "--link", "-1"], "--link"),
    (["capture", "--link", "x"], "--link"),
    (["capture", "--duration", "nan"], "--duration"),
    (["capture", "--duration", "inf"], "--duration"),
    (["capture", "--duration", "0"], "--duration"),
    (["capture", "--count", "0"], "--count"),
    (["capture", "--buffer", "0"], "--buffer"),
    (["capture", "-w", "/nonexistent-dir/x.pcap", "--run", "no-such-run"], "no ring found"),
    (["status", "--spec", "nope.toml"], "no such spec file"),
    (["down", "--spec", "nope.toml"], "no such spec file"),
    (["inject", "lose", "--spec", "nope.toml"], "no such spec file"),
    (["inject", "lose", "--spec", "nope.toml", "--run", "x"], "--run or --spec"),
    # rings across hosts
    (["keys", "/proc/nope/keys"], "cannot create"),
    (["keys", "k", "--stations", "1"], "--stations"),
    (["spec", "--stations", "1"], "--stations"),
    (["spec", "--hosts", "a,a"], "--hosts"),
    (["spec", "--hosts", "a,,b"], "--hosts"),
    (["spec", "-n", "2", "--hosts", "a,b,c"], "--hosts"),
    (["spec", "--port", "nan"], "--port"),
    (["spec", "--port", "65000", "-n", "300"], "--port"),
    (["spec", "--host", "a"], "--host is for --check"),
    (["spec", "--check", "nope.toml"], "no such spec file"),
    (["spec", "--check", "nope.toml", "--stations", "3"], "--stations"),
    (["spec", "-o", "/nonexistent-dir/ring.toml"], "/nonexistent-dir/ring.toml"),
    (["station", "--spec", "nope.toml"], "--id"),
    (["station", "--spec", "nope.toml", "--id", "-1"], "--id"),
    (["station", "--spec", "nope.toml", "--id", "0"], "no such spec file"),
    (["monitor"], "--spec"),
    (["monitor", "--spec", "nope.toml"], "no such spec file"),
    (["up", "--ssh"], "need --spec"),
    (["up", "--host", "a"], "need --spec"),
    (["up", "--spec", "nope.toml"], "no such spec file"),
    (["end-groups", "not json"], "end-groups"),
    (["inject", "cut", "5"], "only valid for 'pause'"),
    (["inject", "heal"], "no running ring"),
    (["link", "3", "--delay", "5ms"], "no running ring"),
    (["link", "x", "--delay", "5ms"], "K must be a link number or 'all'"),
    (["link", "-1", "--delay", "5ms"], "No such option"),
    (["link", "3"], "give an impairment"),
    (["link", "3", "--clear", "--loss", "1%"], "--clear takes no"),
    (["link", "3", "--loss", "nan"], "--loss"),
    (["link", "3", "--delay", "5"], "needs a unit"),
    (["link", "all", "--jitter", "inf"], "--jitter"),
    (["link", "3", "--delay", "5ms", "--run", "no-such-run"], "no ring found"),
    # dashboard and conformance
    (["dashboard", "--speed", "nan", "/nonexistent-dir"], "--speed"),
    (["dashboard", "/nonexistent-dir"], "no events.jsonl"),
    (["conform", "/nonexistent-a", "/nonexistent-b", "--delays", "/nonexistent-c"],
     "nonexistent"),
    # scenario files (written by FILES below); the error names the file and the line
    (["run", "--scenario", "syntax.toml"], "syntax.toml:3: not valid TOML"),
    (["run", "--scenario", "unknown-key.toml"], "unknown-key.toml:2: stashions"),
    (["run", "--scenario", "unknown-table.toml"], "unknown-table.toml:4: unknown table"),
    (["run", "--scenario", "nan.toml"], "nan.toml:2: load must be a finite number"),
    (["run", "--scenario", "bad-option.toml"], "bad-option.toml:4: snapshot-interval"),
    (["run", "--scenario", "bad-fault.toml"], "bad-fault.toml:9: faults[2]"),
    (["run", "--scenario", "fault-station.toml"], "fault-station.toml:7: faults[1]"),
    (["run", "--scenario", "fault-inf.toml"], "fault-inf.toml:6: faults[1].at must be a finite"),
    (["run", "--scenario", "bad-expect.toml"], "bad-expect.toml:4: expect.bogus"),
    (["run", "--scenario", "expect-nan.toml"], "expect-nan.toml:1: expect.max_detection_ms"),
    (["run", "--scenario", "live-only.toml"], "live-only.toml:1: transport"),
    (["run", "--scenario", "missing.toml"], "cannot read scenario missing.toml"),
    (["sim", "--scenario", "bad-fault.toml"], "bad-fault.toml:4: faults[1]: no 'at_rotation'"),
    (["sim", "--scenario", "nan.toml"], "nan.toml:2: load must be a finite number"),
    # ringemu report
    (["report", "/nonexistent-dir"], "no run here"),
    (["check", "/nonexistent-dir"], "no run here"),
    (["check", "nan.jsonl"], "event 1 is not a ringemu event"),
    (["report", "nan.jsonl"], "event 1 is not a ringemu event"),
    (["report", "empty.jsonl"], "no events"),
    (["report", "ok.jsonl", "--snapshot", "999"], "--snapshot 999: no such snapshot"),
    (["report", "ok.jsonl", "--snapshot", "-1"], "--snapshot"),
    (["report", "ok.jsonl", "-o", "/nonexistent-dir/r.html"], "/nonexistent-dir"),
]

FILES = {
    "syntax.toml": "stations = 6\n[run]\nduration = \n",
    "unknown-key.toml": "stations = 6\nstashions = 3\n[run]\nduration = 2\n",
    "unknown-table.toml": "stations = 6\n[run]\nduration = 2\n[nope]\nx = 1\n",
    "nan.toml": "stations = 6\nload = nan\n[run]\nduration = 2\n[sim]\nrotations = 9\n",
    "bad-option.toml": "stations = 6\n[run]\nduration = 2\nsnapshot-interval = -5\n",
    "bad-fault.toml": ("stations = 6\n[run]\nduration = 2\n[[faults]]\nkind = \"lose\"\n"
                       "at = 1\n\n[[faults]]\nkind = \"boom\"\nat = 1\n[sim]\n"
                       "rotations = 9\n"),
    "fault-station.toml": ("stations = 6\n[run]\nduration = 2\n[[faults]]\n"
                           "kind = \"lose\"\nat = 1\nstation = 9\n"),
    "fault-inf.toml": "[run]\nduration = 2\n[[faults]]\nkind = \"dup\"\n\nat = inf\n",
    "bad-expect.toml": "[run]\nduration = 2\n[expect]\nbogus = 1\n",
    "expect-nan.toml": "expect = { valid = true, max_detection_ms = nan }\n[run]\nduration = 1\n",
    "live-only.toml": "transport = \"tcp\"\n[run]\nduration = 2\n",
    "nan.jsonl": '{"event": "ring_starting", "t": NaN, "stations": 2, "endpoints": {}}\n',
    "empty.jsonl": "",
    "ok.jsonl": '{"event": "ring_starting", "t": 0, "stations": 2, "endpoints": {}}\n',
}
"""Input files the rows above name, written into the test's folder."""


def session_processes(sid: int) -> list[int]:
    """Processes still alive in session ``sid``."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            data = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
            left.append(int(entry.name))
    return left


def refused(args: list[str], needle: str, tmp_path: Path) -> None:
    env = {**os.environ, "RINGEMU_RUNTIME": str(tmp_path / "rt"),
           "RINGEMU_RUNS": str(tmp_path / "runs")}
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    p = subprocess.Popen([sys.executable, "-m", "ringemu", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                         start_new_session=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, (p.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ringemu: error:"), lines[0]
    assert needle in lines[0], lines[0]
    assert out == ""
    assert session_processes(p.pid) == []
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("args,needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_refused_in_one_line_and_leaves_nothing(args, needle, tmp_path):
    refused(args, needle, tmp_path)


def test_the_table_covers_every_command():
    commands = {args[0] for args, _ in BAD}
    assert commands == {"sim", "run", "up", "inject", "status", "down", "dashboard", "conform",
                        "report", "capture", "check", "keys", "spec", "station", "monitor",
                        "end-groups", "link"}


# A spec with one thing wrong, through the commands that read specs: the error names the file
# and the line (the line that starts with ``at`` in the broken spec) before anything starts.
BAD_SPECS = [
    # (command, how to break the spec, the line named, what the message says)
    (["spec", "--check"], ("active-monitor = 0", "active-monitor = 9"), "active-monitor",
     "no station 9"),
    (["up", "--spec"], ("active-monitor = 0", "active-monitor = 9"), "active-monitor",
     "no station 9"),
    (["up", "--spec"], ('[stations.3]\nhost = "127.0.0.2"', '[stations.3]\nhost = "d"'),
     'host = "d"', "unknown host 'd'"),
    (["station", "--id", "1", "--spec"], ("ring = {r3}", "ring = {r2}"), "ring = {r2}\ncmd = {c3}",
     "duplicate address"),
    (["up", "--spec"], ("load = 0.1", "load = 2"), "load", "ring.load must be from 0 to 1"),
    (["up", "--spec"], ("load = 0.1", "load = nan"), "load", "not nan"),
    (["monitor", "--spec"], ("restart-delay = 0.5", "restart-delay = -inf"), "restart-delay",
     "not -inf"),
    (["up", "--spec"], ("seed = 1", "seed = 1.5"), "seed", "whole number"),
    (["up", "--spec"], ("seed = 1", "sede = 1"), "sede", "unknown key 'sede'"),
    (["spec", "--check"], ("[monitor]", "[monitor"), "[monitor", "Expected ']'"),
    (["up", "--spec"], (None, "station-3.key_secret"), "dir = ", "station-3.key_secret: no such"),
    (["up", "--spec"], (None, "station-5.key"), "dir = ", "station-5.key: no such key file"),
    (["status", "--spec"], (None, "operator.key_secret"), "dir = ",
     "operator.key_secret: no such key file"),
]


@pytest.fixture
def spec_folder(tmp_path):
    from ringemu.live.keyfiles import make_keys
    from ringemu.live.spec_template import starting_spec
    from tests.test_spec_ring import free_base

    make_keys(tmp_path / "keys", 6)
    base = free_base(6)
    text = starting_spec(6, ["127.0.0.1", "127.0.0.2", "127.0.0.3"], "keys", base)
    return tmp_path, text, base


@pytest.mark.parametrize("command,breaking,at,needle", BAD_SPECS,
                         ids=[f"{' '.join(c)} {b[1]}" for c, b, _, _ in BAD_SPECS])
def test_a_broken_spec_is_refused_naming_its_file_and_line(spec_folder, command, breaking, at,
                                                            needle):
    tmp_path, text, base = spec_folder
    ports = {"r2": base + 14, "r3": base + 16, "c3": base + 17}
    old, new = breaking
    if old is None:  # a key file goes missing
        (tmp_path / "keys" / new).unlink()
    else:
        old, new = old.format(**ports), new.format(**ports)
        assert old in text
        text = text.replace(old, new, 1)
    (tmp_path / "ring.toml").write_text(text)
    at = at.format(**ports)
    line = text[:text.index(at)].count("\n") + 1 if "\n" in at else \
        next(i for i, x in enumerate(text.splitlines(), 1) if x.startswith(at))
    refused([*command, "ring.toml"], f"ring.toml:{line}: ", tmp_path)
    refused([*command, "ring.toml"], needle, tmp_path)


def test_a_port_in_use_is_named_before_anything_starts(spec_folder):
    import socket

    tmp_path, text, base = spec_folder
    (tmp_path / "ring.toml").write_text(text)
    with socket.socket() as s:
        s.bind(("127.0.0.2", base + 16))  # station 3's ring port
        s.listen()
        line = next(i for i, x in enumerate(text.splitlines(), 1) if x == f"ring = {base + 16}")
        refused(["up", "--spec", "ring.toml"], f"ring.toml:{line}: stations.3.ring: 127.0.0.2 "
                f"port {base + 16} is in use here", tmp_path)
