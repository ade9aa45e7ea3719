"""Scenario files (``--scenario FILE.toml``): what they set, what they expect, where they err.

The bad files of every kind are rows of ``test_bad_input.py`` (one line, exit 2, file and line
named); here: the file's options reach the run, the command line wins over them, the faults are
the registry's schedule entries, expectations decide the exit status and name the line of each
that failed, and the line finder behind every message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ringemu.errors import ConfigError
from ringemu.faults import Shell
from ringemu.scenario import load, locate

TEXT = """\
# a comment
description = "x"
stations = 5
expect = { valid = true, max_detection_ms = 250 }

[run]
duration = 2
snapshot-interval = 100

[sim]
rotations = 120
"snapshot-every" = 3

[[faults]]
kind = "lose"
at = 0.5
at_rotation = 30

[[faults]]
kind = "dup"
station = 2
at = 1.0
at_rotation = 80
"""


def ringemu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_locate_finds_keys_tables_and_inline_tables():
    assert locate(TEXT, (), "stations") == 3
    assert locate(TEXT, ("run",), "snapshot-interval") == 8
    assert locate(TEXT, ("run",)) == 6
    assert locate(TEXT, ("sim",), "snapshot-every") == 12
    assert locate(TEXT, ("faults", 0), "kind") == 15
    assert locate(TEXT, ("faults", 1), "kind") == 20
    assert locate(TEXT, ("faults", 1), "station") == 21
    assert locate(TEXT, ("faults", 1)) == 19
    assert locate(TEXT, ("expect",), "max_detection_ms") == 4
    assert locate(TEXT, ("run",), "nope") == 6  # not there: its table


def test_load_reads_options_faults_and_expectations(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TEXT)
    run = load(path, Shell.LIVE)
    assert {k: v[0] for k, v in run.options.items()} == {
        "stations": 5, "duration": 2, "snapshot-interval": 100}
    assert run.injects == ["lose@0.5", "dup@1.0:2"]
    sim = load(path, Shell.SIM)
    assert {k: v[0] for k, v in sim.options.items()} == {
        "stations": 5, "rotations": 120, "snapshot-every": 3}
    assert sim.injects == ["lose@30", "dup@80:2"]
    assert sim.expect == {"valid": True, "max_detection_ms": 250}


def test_an_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TEXT.replace('kind = "dup"', 'kind = "dupe"'))
    with pytest.raises(ConfigError, match=r"s\.toml:20: faults\[2\]: .*unknown fault 'dupe'"):
        load(path, Shell.SIM)
    path.write_text(TEXT.replace("at_rotation = 80", "at_rotation = -1"))
    with pytest.raises(ConfigError, match=r"s\.toml:\d+: faults\[2\]: .*must not be negative"):
        load(path, Shell.SIM)


def test_the_file_sets_the_run_and_the_command_line_wins(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TEXT)
    p = ringemu("sim", "--scenario", str(path), "--json", "-q")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout.strip().splitlines()[-1])
    assert data["stations"] == 5 and data["rotations"] == 120
    assert [f["spec"] for f in data["faults"]] == ["lose@30:" + str(data["faults"][0][
        "station"]), "dup@80:2"]
    assert "every expectation met (valid, max_detection_ms)" in p.stderr
    p = ringemu("sim", "--scenario", str(path), "--stations", "7", "--rotations", "90",
                "--json", "-q")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout.strip().splitlines()[-1])
    assert data["stations"] == 7 and data["rotations"] == 90


def test_unmet_expectations_exit_1_naming_each(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TEXT.replace("max_detection_ms = 250", "max_detection_ms = 0.01, "
                                 "min_alarms = 9, events = { elected = 1 }"))
    p = ringemu("sim", "--scenario", str(path), "-q")
    assert p.returncode == 1, p.stderr
    lines = [x for x in p.stderr.splitlines() if "expectation not met" in x]
    assert len(lines) == 3, p.stderr
    assert all(f"{path}:4: expect." in x for x in lines)
    assert any("max_detection_ms: lose@30" in x for x in lines)
    assert any("min_alarms: 2 alarms, fewer than 9" in x for x in lines)
    assert any("events: 0 elected event(s), fewer than 1" in x for x in lines)


def test_an_option_in_the_wrong_table_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[sim]\nrotations = 10\nsnapshot-interval = 100\n")
    p = ringemu("sim", "--scenario", str(path))
    assert p.returncode == 2
    assert (f"{path}:3: snapshot-interval: not an option of ringemu sim (an option of "
            "ringemu run: put it under [run])") in p.stderr


def test_impairments_reach_the_impairment_options(tmp_path):
    """The [impairments] table sets every link, and ``links`` one link alone: a lossy link 2
    drops messages on link 2->3 and nowhere else, and the run's summary says so."""
    path = tmp_path / "s.toml"
    path.write_text('[sim]\nrotations = 50\nstations = 4\n\n[impairments]\ndelay = "1ms"\n'
                    'links = { 2 = { loss = "50%" } }\n')
    p = ringemu("sim", "--scenario", str(path), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["link_drops"] > 0 and out["wrong_counts"] == 0
    assert out["rotation_us"] > 4000  # four links of 1 ms each
    why = [a["explained_by_link"] for a in out["alarms"] if a["explained_by_link"]]
    assert why and all("link 2\u21923" in x for w in why for x in w)
    path.write_text('[sim]\nrotations = 50\n\n[impairments]\ndelay = "-5ms"\n')
    p = ringemu("sim", "--scenario", str(path), "-q")
    assert p.returncode == 2 and f"{path}:4: impairments:" in p.stderr
