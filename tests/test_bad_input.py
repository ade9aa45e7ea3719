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
    (["run", "-d", "1", "--delay", "infms"], "--delay"),
    (["run", "-d", "1", "--loss", "2"], "--loss"),
    (["run", "-d", "1", "--impair", "4:jitter=1s", "-n", "4"], "no link 4"),
    (["run", "-d", "1", "--inject", "cut@0.5:8"], "no station 8"),
    # ringemu up
    (["up", "--snapshot-interval", "nan"], "--snapshot-interval"),
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
]


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


@pytest.mark.parametrize("args,needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_refused_in_one_line_and_leaves_nothing(args, needle, tmp_path):
    env = {**os.environ, "RINGEMU_RUNTIME": str(tmp_path / "rt"),
           "RINGEMU_RUNS": str(tmp_path / "runs")}
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


def test_the_table_covers_every_command():
    commands = {args[0] for args, _ in BAD}
    assert commands == {"sim", "run", "up", "inject", "status", "down", "dashboard", "conform",
                        "link"}
