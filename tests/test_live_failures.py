"""A live ring that cannot do what it was asked: each failure is one clear line, and the summary
or the event stream says what happened.

- an injection the ring refuses while ``run`` runs: exit 2, the reason in the summary;
- the monitor dies under ``up --json``: an ``error`` event, one line on stderr, exit 3, and
  nothing left running;
- ``down`` of a ring that has ended says so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringemu.live.paths import RingInfo, same_process
from tests.test_bad_input import session_processes

pytestmark = pytest.mark.live


@pytest.fixture
def env(tmp_path, short_runtime):
    return {**os.environ, "RINGEMU_RUNTIME": short_runtime,
            "RINGEMU_RUNS": str(tmp_path / "runs")}


def ringemu(env, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, env=env, timeout=120, **kw)


def test_an_injection_refused_while_running_makes_run_exit_2_with_the_reason(env):
    p = ringemu(env, "run", "-n", "4", "-d", "1.5", "--inject", "kill@0.3:2",
                "--inject", "lose@0.8:2", "--json")
    assert p.returncode == 2, p.stderr
    s = json.loads(p.stdout.strip().splitlines()[-1])
    assert s["refused"] == [{"spec": "lose@0.8:2", "error": "station 2 is dead"}]
    assert s["valid"] == "unknown"


def test_a_monitor_that_dies_ends_up_with_an_error_event_and_one_line(env, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "ringemu", "up", "-n", "4", "--no-dashboard",
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, start_new_session=True)
    try:
        line = p.stdout.readline()  # the first event: the ring is starting
        assert json.loads(line)["event"] == "ring_starting"
        rings = list((tmp_path / "runs").glob("*/ring.json"))
        deadline = time.monotonic() + 10
        while not rings and time.monotonic() < deadline:
            time.sleep(0.05)
            rings = list((tmp_path / "runs").glob("*/ring.json"))
        info = RingInfo.load(rings[0])
        monitor = info.process("monitor")
        time.sleep(0.5)
        assert same_process(monitor["pid"], monitor["start_time"])
        os.kill(monitor["pid"], signal.SIGKILL)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    events = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert events[-1]["event"] == "error" and "monitor exited" in events[-1]["detail"]
    assert p.returncode == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ringemu: error: the ring failed")
    assert session_processes(p.pid) == []
    recorded = Path(info.run_dir, "events.jsonl").read_text().splitlines()
    assert json.loads(recorded[-1])["event"] == "error"


def test_down_of_a_finished_run_says_so(env):
    p = ringemu(env, "run", "-n", "3", "-d", "0.3", "--json")
    run_dir = json.loads(p.stdout.strip().splitlines()[-1])["run_dir"]
    d = ringemu(env, "down", "--run", run_dir)
    assert d.returncode == 0
    assert "is not running" in d.stdout and "nothing to stop" in d.stdout
