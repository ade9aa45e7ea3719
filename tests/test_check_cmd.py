"""``ringemu check`` judges a recorded run again: the same verdict as the run's own summary,
and a doctored record is caught."""

from __future__ import annotations

import json
import subprocess
import sys


def ringemu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, timeout=120)


def test_check_agrees_with_the_simulators_own_summary(tmp_path):
    events = tmp_path / "sim.jsonl"
    sim = ringemu("sim", "-n", "6", "-r", "200", "--inject", "lose@50", "--inject", "dup@120:2",
                  "--events", str(events), "--json")
    own = json.loads(sim.stdout.strip().splitlines()[-1])
    p = ringemu("check", str(events), "--json")
    again = json.loads(p.stdout)
    assert p.returncode == sim.returncode == 0
    assert again["valid"] is own["valid"] is True
    assert [f["outcome"] for f in again["faults"]] == [f["outcome"] for f in own["faults"]]
    assert again["shell"] == "sim" and again["finished"] is True


def test_check_calls_an_alarm_that_no_fault_explains_false(tmp_path):
    events = tmp_path / "sim.jsonl"
    ringemu("sim", "-n", "6", "-r", "200", "--inject", "lose@50", "--events", str(events))
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    doctored = [e for e in lines if e["event"] not in ("inject", "fault_fired")]
    (tmp_path / "doctored.jsonl").write_text("".join(json.dumps(e) + "\n" for e in doctored))
    p = ringemu("check", str(tmp_path / "doctored.jsonl"))
    assert p.returncode == 1, p.stdout
    assert "false alarms 1" in p.stdout
