"""One scenario, both shells: the simulator and the live ring record the same history.

The same fault schedule (a lose, a dup, a kill) runs in ``ringemu sim`` (times in rotations) and
in ``ringemu run`` (times in seconds). Both write their events as JSON lines (``--events`` and
the run folder's ``events.jsonl``); this test reads both with the same code and checks that
they speak one language: the same event kinds, each with the same keys, and that the same
checker, reading either file back, finds the same faults detected.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ringemu.checker import judge
from ringemu.core.history import RunHistory, event_fields
from ringemu.live.paths import read_events

SCENARIO = ["lose@{a}:2", "dup@{b}:3", "kill@{c}:4"]
ALWAYS = {"ring_starting", "station_up", "ring_up", "first_snapshot", "snapshot", "inject",
          "fault_fired", "alarm", "purge_request", "purge_started", "purge_done",
          "station_exit", "membership", "steady", "payload_sent", "payload_delivered",
          "ring_down", "trace", "traffic"}
"""Kinds this scenario must produce in either shell."""
TIMING = {"absorbed", "orphan", "stray", "malformed", "resumed", "interval", "suspicion",
          "claim_started", "elected"}
"""Kinds that may or may not occur, depending on where the token happened to be."""


def ringemu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, timeout=180)


def injects(a: float, b: float, c: float) -> list[str]:
    out = []
    for spec in SCENARIO:
        out += ["--inject", spec.format(a=a, b=b, c=c)]
    return out


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("shells")
    runtime = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    sim_events = tmp / "sim.jsonl"
    p = ringemu("sim", "-n", "6", "-r", "300", "--seed", "5", *injects(60, 150, 250),
                "--events", str(sim_events), "--json", "-q")
    assert p.returncode in (0, 2), p.stderr
    runs = tmp / "runs"
    env_args = ["--runs-dir", str(runs)]
    try:
        p = subprocess.run([sys.executable, "-m", "ringemu", "run", "-n", "6", "-d", "4",
                            "--seed", "5", *injects(1, 2, 3), *env_args, "--json"],
                           capture_output=True, text=True, timeout=180,
                           env={**os.environ, "RINGEMU_RUNTIME": runtime})
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    assert p.returncode in (0, 2), p.stderr
    run_dir = Path(json.loads(p.stdout.strip().splitlines()[-1])["run_dir"])
    return {"sim": read_events(sim_events), "live": read_events(run_dir / "events.jsonl")}


pytestmark = pytest.mark.live


def test_both_shells_emit_the_same_event_kinds(both):
    kinds = {shell: set(event_fields(events)) for shell, events in both.items()}
    for shell, seen in kinds.items():
        assert ALWAYS <= seen, f"{shell} lacks {sorted(ALWAYS - seen)}"
        assert seen - ALWAYS <= TIMING, f"{shell} has unexpected kinds {seen - ALWAYS - TIMING}"


def test_every_kind_carries_the_same_keys_in_both_shells(both):
    sim, live = (event_fields(both[s]) for s in ("sim", "live"))
    for kind in set(sim) & set(live):
        assert sim[kind] == live[kind], (kind, sim[kind] ^ live[kind])


def test_the_same_reader_judges_both_files_alike(both):
    outcomes = {}
    for shell, events in both.items():
        j = judge(RunHistory.from_events(events))
        outcomes[shell] = [(o.fault.kind.value, o.fault.station, o.outcome) for o in j.faults]
        assert j.false_alarms == []
    assert outcomes["sim"] == outcomes["live"] == [
        ("lose", 2, "detected"), ("dup", 3, "detected"), ("kill", 4, "detected")]
