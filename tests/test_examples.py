"""Every scenario in examples/ runs and shows what it says it shows (its [expect] table).

Each example has a [sim] and a [run] section: the simulator runs every one (a second or so
each); the live ring runs every one too, with the short durations the files give (marked live
and slow). The commands exit 0 only when every expectation of the file was met.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


def test_there_are_examples_that_teach():
    names = {p.stem for p in EXAMPLES}
    assert {"lost-token", "duplicate-token", "dead-station", "dead-active-monitor",
            "fault-storm"} <= names
    for p in EXAMPLES:
        text = p.read_text()
        data = tomllib.loads(text)
        assert text.lstrip().startswith("#"), f"{p.name} does not begin with a comment"
        assert data.get("expect"), f"{p.name} expects nothing"
        assert "sim" in data and "run" in data, f"{p.name} lacks [sim] or [run]"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_in_the_simulator(path):
    p = subprocess.run([sys.executable, "-m", "ringemu", "sim", "--scenario", str(path), "-q"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr + p.stdout[-2000:]
    assert "every expectation met" in p.stderr


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_on_a_live_ring(path, tmp_path, short_runtime):
    env = {**os.environ, "RINGEMU_RUNTIME": str(short_runtime)}
    p = subprocess.run([sys.executable, "-m", "ringemu", "run", "--scenario", str(path),
                        "--runs-dir", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    assert "every expectation met" in p.stderr
