"""``ringemu sim`` as a user runs it: output, determinism, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ringemu.errors import ConfigError
from ringemu.faults import ScheduledFault, Shell, parse_fault


def ringemu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, timeout=120)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_json_summary_has_the_documented_keys_and_detects_faults():
    p = ringemu("sim", "--stations", "8", "--rotations", "120", "--seed", "4",
                "--inject", "lose@20:3", "--inject", "dup@60:5", "--inject", "corrupt@90",
                "--json")
    assert p.returncode == 0, p.stderr
    data = last_json(p.stdout)
    for key in ("valid", "snapshots", "false_alarms", "alarms", "faults"):
        assert key in data
    assert data["valid"] is True and data["false_alarms"] == 0
    assert [f["kind"] for f in data["faults"]] == ["lose", "dup", "corrupt"]
    for f in data["faults"]:
        assert f["detected"] is True
        assert 0 < f["detection_rotations"] < 4
    assert [a["kind"] for a in data["alarms"]] == ["LOST", "DUPLICATE", "LOST"]
    assert data["snapshots"] >= 55
    assert "simulated hops/s" in p.stderr


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    args = ["sim", "-n", "12", "-r", "80", "--inject", "lose@30", "--inject", "dup@50", "--json"]
    runs = []
    for k in range(2):
        ev = tmp_path / f"ev{k}.jsonl"
        cap = tmp_path / f"cap{k}.pcap"
        p = ringemu(*args, "--seed", "9", "--events", str(ev), "--pcap", str(cap))
        runs.append((p.stdout.replace(str(cap), "CAP"), ev.read_bytes(), cap.read_bytes()))
    assert runs[0] == runs[1]
    assert len(runs[0][1].splitlines()) > 40
    assert last_json(runs[0][0])["captured"] > 500
    other = ringemu(*args, "--seed", "10")
    assert other.stdout != runs[0][0]


def test_human_summary_is_readable():
    p = ringemu("sim", "-n", "6", "-r", "60", "--inject", "lose@20:2")
    assert p.returncode == 0
    out = p.stdout
    assert "ringemu sim: 6 stations, 60 rotations" in out
    assert "lose@20:2" in out and "detected by snapshot" in out
    assert "verdict    VALID" in out


def test_fault_without_effect_is_unknown_exit_2():
    # lose and dup at the same station and moment cancel out: nothing observable
    p = ringemu("sim", "-n", "6", "-r", "40", "--inject", "dup@10:2", "--inject", "lose@10:3",
                "--json")
    data = last_json(p.stdout)
    assert data["valid"] == "unknown", data
    assert p.returncode == 2


def test_fault_after_last_snapshot_is_unobserved_unknown_without_a_drain():
    p = ringemu("sim", "-n", "4", "-r", "20", "--drain", "0", "--load", "0",
                "--inject", "lose@19.9:1", "--json")
    data = last_json(p.stdout)
    assert data["faults"][0]["outcome"] in ("unobserved", "not-fired")
    assert p.returncode == 2


def test_the_drain_lets_a_fault_near_the_end_be_judged():
    p = ringemu("sim", "-n", "4", "-r", "20", "--inject", "lose@19.9:1", "--json")
    data = last_json(p.stdout)
    assert data["faults"][0]["outcome"] == "detected" and p.returncode == 0


def test_kill_gives_incomplete_naming_the_station():
    p = ringemu("sim", "-n", "10", "-r", "40", "--inject", "kill@10:6", "--json")
    data = last_json(p.stdout)
    assert p.returncode == 0
    (alarm,) = data["alarms"]
    assert alarm["kind"] == "INCOMPLETE" and alarm["station"] == 6


def test_recovery_none_leaves_alarm_standing():
    p = ringemu("sim", "-n", "6", "-r", "40", "--inject", "lose@5:1", "--recovery", "none",
                "--json")
    data = last_json(p.stdout)
    assert data["purges"] == 0
    assert data["alarms"][0]["cleared"] is None
    assert data["verdicts"]["LOST"] >= 10


@pytest.mark.parametrize("args,needle", [
    (["--stations", "1"], "--stations"),
    (["--inject", "boom@3"], "unknown fault 'boom'"),
    (["--inject", "lose@x"], "not a number"),
    (["--inject", "lose@3:99"], "no station 99"),
    (["--rotations", "-1"], "--rotations"),
    (["--nope"], "No such option"),
])
def test_bad_command_line_is_one_line_and_nonzero(args, needle):
    p = ringemu("sim", *args)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("ringemu: error:") and needle in lines[0]
    assert p.stdout == ""


def test_thousand_stations_run():
    p = ringemu("sim", "-n", "1000", "-r", "6", "--json", "--inject", "lose@2")
    data = last_json(p.stdout)
    assert p.returncode == 0
    assert data["stations"] == 1000 and data["token_passes"] >= 2000
    assert data["faults"][0]["detected"]


def test_parse_fault_syntax():
    assert parse_fault("dup@12.5:3", Shell.SIM, "rotations") == ScheduledFault("dup", 12.5, 3)
    assert parse_fault("LOSE@0", Shell.SIM, "rotations") == ScheduledFault("lose", 0.0, None)
    assert parse_fault("pause@2::0.5", Shell.SIM, "rotations") == ScheduledFault(
        "pause", 2.0, None, 0.5)
    with pytest.raises(ConfigError, match="too many"):
        parse_fault("lose@1:2:3", Shell.SIM, "rotations")
    for bad in ("lose@nan", "lose@inf", "pause@1:2:nan", "pause@1:2:61", "pause@1:2:0"):
        with pytest.raises(ConfigError):
            parse_fault(bad, Shell.LIVE, "seconds")


def test_am_aims_at_whoever_is_the_active_monitor_when_the_fault_is_due():
    assert parse_fault("kill@5:AM", Shell.LIVE, "seconds") == ScheduledFault("kill", 5.0, "am")
    assert str(ScheduledFault("kill", 5.0, "am")) == "kill@5:am"
    with pytest.raises(ConfigError, match="not an integer"):
        parse_fault("kill@5:amx", Shell.LIVE, "seconds")
    p = ringemu("sim", "-n", "8", "-r", "300", "--restart", "--inject", "kill@50:am",
                "--inject", "kill@150:am", "--json")
    data = last_json(p.stdout)
    first, second = data["faults"]
    assert first["station"] == 0, "station 0 starts as the active monitor"
    assert second["station"] == 7, "the highest address won the election after the first kill"
    assert [f["outcome"] for f in data["faults"]] == ["detected", "detected"]
    assert p.returncode == 0


def test_a_fault_aimed_at_a_dead_station_is_refused_and_the_run_unknown():
    p = ringemu("sim", "-n", "6", "-r", "100", "--inject", "kill@20:3", "--inject", "lose@40:3",
                "--json")
    data = last_json(p.stdout)
    assert data["refused"] == [{"spec": "lose@40:3", "error": "station 3 is dead"}]
    assert [f["kind"] for f in data["faults"]] == ["kill"], "a refused fault never happened"
    assert data["valid"] == "unknown" and p.returncode == 2


def test_a_fault_aimed_at_a_paused_station_waits_for_it():
    p = ringemu("sim", "-n", "6", "-r", "100", "--inject", "pause@20:3:5",
                "--inject", "lose@21:3", "--json")
    data = last_json(p.stdout)
    assert data["refused"] == []
    pause, lose = data["faults"]
    assert lose["injected"] >= pause["injected"] + 5, "injected when the station went on"
    assert lose["outcome"] == "detected" and p.returncode == 0


def test_a_restarted_station_keeps_counting_where_its_earlier_life_stopped():
    base = last_json(ringemu("sim", "-n", "8", "-r", "300", "--json").stdout)
    healed = last_json(ringemu("sim", "-n", "8", "-r", "300", "--restart", "--restart-delay", "1",
                               "--inject", "kill@280:3", "--json").stdout)
    assert healed["token_passes"] > 0.96 * base["token_passes"], \
        "the passes station 3 made before it was killed still count"
