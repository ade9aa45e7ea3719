"""Conformance of ``SnapshotRecorder`` against a peer's Chandy-Lamport vectors.

The peer is Princeton COS 418 (Assignment 2).

The vectors have no license, so they are never copied here: they are read at run time from
``<repo root>/../shared/conformance/chandy-lamport`` (``RINGEMU_SHARED`` replaces
``<repo root>/../shared``; it may also point straight at the vectors folder). Without them the
vector tests skip; the bad-input tests use small made-up files and always run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from ringemu.cli import main
from ringemu.conform.formats import (
    Message,
    Send,
    Snapshot,
    StartSnapshot,
    Tick,
    parse_delays,
    parse_events,
    parse_events_text,
    parse_snap,
    parse_snaps_text,
    parse_topology,
    parse_topology_text,
)
from ringemu.conform.harness import Harness, run_script
from ringemu.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DELAYS_NAME = "go-math-rand-seed8053172852482175524-intn5-first10000.txt"

# (upstream test, topology, events, expected .snap files, delay values it uses per SOURCE.md)
CASES = [
    ("Test2NodesSimple", "2nodes", "2nodes-simple", ["2nodes-simple"], 2),
    ("Test2NodesSingleMessage", "2nodes", "2nodes-message", ["2nodes-message"], 3),
    ("Test3NodesMultipleMessages", "3nodes", "3nodes-simple", ["3nodes-simple"], 10),
    ("Test3NodesMultipleBidirectionalMessages", "3nodes", "3nodes-bidirectional-messages",
     ["3nodes-bidirectional-messages"], 12),
    ("Test8NodesSequentialSnapshots", "8nodes", "8nodes-sequential-snapshots",
     [f"8nodes-sequential-snapshots{i}" for i in range(2)], 43),
    ("Test8NodesConcurrentSnapshots", "8nodes", "8nodes-concurrent-snapshots",
     [f"8nodes-concurrent-snapshots{i}" for i in range(5)], 97),
    ("Test10NodesDirectedEdges", "10nodes", "10nodes", [f"10nodes{i}" for i in range(10)], 200),
]
CASE_IDS = [c[0] for c in CASES]


def _vectors_dir() -> Path:
    env = os.environ.get("RINGEMU_SHARED")
    base = Path(env) if env else REPO.parent / "shared"
    for candidate in (base / "conformance" / "chandy-lamport", base):
        if (candidate / DELAYS_NAME).is_file():
            return candidate
    return base / "conformance" / "chandy-lamport"


@pytest.fixture(scope="module")
def vectors() -> Path:
    d = _vectors_dir()
    if not (d / DELAYS_NAME).is_file():
        pytest.skip(f"peer Chandy-Lamport vectors not found at {d} (set RINGEMU_SHARED to the "
                    "folder that holds conformance/chandy-lamport)")
    return d


@pytest.fixture(scope="module")
def delays(vectors: Path) -> list[int]:
    return parse_delays(vectors / DELAYS_NAME)


def _run_case(vectors: Path, delays: list[int], top: str, events: str) -> Harness:
    topology = parse_topology(vectors / f"{top}.top")
    harness = Harness(topology, parse_events(vectors / f"{events}.events", topology), delays)
    harness.run()
    return harness


def upstream_diff(expected: list[Snapshot], actual: list[Snapshot]) -> list[str]:
    """Differences under the peer's comparison rules (SOURCE.md, "How upstream compares").

    Match by id after sorting; token maps equal; same message count; and for each destination
    the ordered list of messages ending there equal.
    """
    expected = sorted(expected, key=lambda s: s.id)
    actual = sorted(actual, key=lambda s: s.id)
    if len(expected) != len(actual):
        return [f"expected {len(expected)} snapshots, got {len(actual)}"]
    problems = []
    for exp, act in zip(expected, actual):
        if exp.id != act.id:
            problems.append(f"snapshot id: expected {exp.id}, got {act.id}")
            continue
        if exp.tokens != act.tokens:
            problems.append(f"snapshot {exp.id} tokens: expected {exp.tokens}, got {act.tokens}")
        if len(exp.messages) != len(act.messages):
            problems.append(f"snapshot {exp.id}: expected {len(exp.messages)} messages, "
                            f"got {len(act.messages)}")
            continue
        by_dst_exp, by_dst_act = defaultdict(list), defaultdict(list)
        for m in exp.messages:
            by_dst_exp[m.dst].append(m)
        for m in act.messages:
            by_dst_act[m.dst].append(m)
        if by_dst_exp != by_dst_act:
            problems.append(f"snapshot {exp.id} messages per destination: expected "
                            f"{dict(by_dst_exp)}, got {dict(by_dst_act)}")
    return problems


# -- the peer vectors ------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "top", "events", "snaps", "draws"), CASES, ids=CASE_IDS)
def test_peer_case(vectors, delays, name, top, events, snaps, draws):
    harness = _run_case(vectors, delays, top, events)
    expected = [parse_snap(vectors / f"{s}.snap") for s in snaps]
    assert upstream_diff(expected, harness.snapshots()) == []
    # Same number of random draws as the peer's simulator: a cheap check on the timing model.
    assert harness.draws == draws


def test_all_21_expected_snapshots_are_covered(vectors):
    files = {p.stem for p in vectors.glob("*.snap")}
    listed = {s for case in CASES for s in case[3]}
    assert listed == files
    assert len(listed) == 21


@pytest.mark.parametrize(("name", "top", "events", "snaps", "draws"), CASES, ids=CASE_IDS)
def test_conservation(vectors, delays, name, top, events, snaps, draws):
    harness = _run_case(vectors, delays, top, events)
    total = harness.topology.total_tokens
    assert sum(harness.balance.values()) + harness.in_flight_tokens() == total
    for snap in harness.snapshots():
        recorded = sum(snap.tokens.values()) + sum(m.tokens for m in snap.messages)
        assert recorded == total, f"snapshot {snap.id} records {recorded} of {total} tokens"


def test_worked_trace_from_source_md(vectors, delays):
    """The enqueue/deliver trace for 3nodes-simple equals the one published in SOURCE.md."""
    source = (vectors / "SOURCE.md").read_text()
    match = re.search(r"## Worked trace.*?```\n(.*?)```", source, re.S)
    if not match:
        pytest.skip("SOURCE.md has no worked trace block")
    lines: list[str] = []
    topology = parse_topology(vectors / "3nodes.top")
    script = parse_events(vectors / "3nodes-simple.events", topology)
    Harness(topology, script, delays, trace=lines.append).run()
    assert lines == match.group(1).strip().splitlines()


def test_comparison_follows_upstream_rules():
    """The checker must catch what the peer's does, or the vector tests prove nothing."""
    def snap(*messages, tokens=None):
        return Snapshot(0, tokens or {"A": 1, "B": 2},
                        [Message(s, d, k) for s, d, k in messages])

    base = snap(("A", "B", 1), ("A", "B", 2), ("B", "A", 3))
    assert upstream_diff([base], [snap(("B", "A", 3), ("A", "B", 1), ("A", "B", 2))]) == []
    for wrong in [snap(("A", "B", 2), ("A", "B", 1), ("B", "A", 3)),  # FIFO order
                  snap(("A", "B", 1), ("A", "B", 2)),                 # missing message
                  snap(("A", "B", 1), ("A", "B", 2), ("B", "A", 4)),  # token count
                  snap(("A", "B", 1), ("A", "B", 2), ("B", "A", 3), tokens={"A": 1, "B": 3})]:
        assert upstream_diff([base], [wrong]) != []
    assert upstream_diff([base], []) != []


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_cli_10nodes_round_trips(vectors):
    result = _cli("conform", str(vectors / "10nodes.top"), str(vectors / "10nodes.events"),
                  "--delays", str(vectors / DELAYS_NAME))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = [parse_snap(vectors / f"10nodes{i}.snap") for i in range(10)]
    assert upstream_diff(expected, parse_snaps_text(result.stdout, "stdout")) == []
    blocks = result.stdout.split("\n\n")
    assert len(blocks) == 10 and [b.split("\n", 1)[0] for b in blocks] == [str(i) for i in
                                                                            range(10)]


def test_cli_output_format(vectors):
    result = _cli("conform", str(vectors / "3nodes.top"), str(vectors / "3nodes-simple.events"),
                  "--delays", str(vectors / DELAYS_NAME))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("0\nN1 5\nN2 1\nN3 2\nN1 N2 token(3)\nN1 N2 token(2)\n")


# -- made-up inputs --------------------------------------------------------------------------
TWO = "2\nN1 1\nN2 0\nN1 N2\nN2 N1\n"


def _conform_in_process(capsys, top: Path, events: Path, delays: Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["conform", str(top), str(events), "--delays", str(delays)])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


BAD = [
    # (which file is bad, its text, the line to name, a fragment of the message)
    ("top", "2\nN1 1\nN2 0\nN1 N2\nN2 N9\n", 5, "unknown server 'N9'"),
    ("top", "two\nN1 1\n", 1, "must be an integer"),
    ("top", "2\nN1 -1\nN2 0\n", 2, "must not be negative"),
    ("top", "2\nN1 1\nN1 0\n", 3, "duplicate server 'N1'"),
    ("top", "2\nN1 1\nN2 0\nN1 N2 N1\n", 4, "expected 2 fields"),
    ("top", "# servers\n3\nN1 1\nN2 0\n", 2, "declares 3 servers but only 2"),
    ("top", "2\nN1 1\nN2 0\nN1 N2\n\nN1 N2\n", 6, "duplicate channel N1 -> N2"),
    ("top", "0\n", 1, "at least 1"),
    ("events", "jump N1\n", 1, "unknown command 'jump'"),
    ("events", "tick\n# a comment\n", 2, "unknown command '#'"),
    ("events", "send N1 N2\n", 1, "expected 4 fields"),
    ("events", "send N1 N2 one\n", 1, "must be an integer"),
    ("events", "send N1 N2 -1\n", 1, "must not be negative"),
    ("events", "tick\nsend N1 N3 1\n", 2, "unknown server 'N3'"),
    ("events", "snapshot N7\n", 1, "unknown server 'N7'"),
    ("events", "send N1 N1 1\n", 1, "no channel N1 -> N1"),
    ("events", "tick\n\nsend N1 N2 2\n", 3, "N1 has 1 token(s) at t=1, cannot send 2"),
    ("events", "tick 2 3\n", 1, "expected 2 fields"),
    ("events", "tick -2\n", 1, "must not be negative"),
    ("events", "snapshot\n", 1, "expected 2 fields"),
    ("delays", "1\nx\n", 2, "must be an integer"),
    ("delays", "1\n-4\n", 2, "must not be negative"),
    ("delays", "1\n2 3\n", 2, "expected 1 fields"),
    ("delays", "\xff\n", 1, "not UTF-8"),
]


@pytest.mark.parametrize(("which", "text", "line", "fragment"), BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_one_line_naming_file_and_line(tmp_path, capsys, which, text, line,
                                                    fragment):
    files = {"top": TWO, "events": "snapshot N1\ntick\n", "delays": "0\n" * 20}
    paths = {}
    for kind, default in files.items():
        path = tmp_path / f"case.{kind}"
        if kind == which and text == "\xff\n":
            path.write_bytes(b"\xff\n")
        else:
            path.write_text(text if kind == which else default)
        paths[kind] = path
    code, out, err = _conform_in_process(capsys, paths["top"], paths["events"], paths["delays"])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"ringemu: error: {paths[which]}:{line}: "), err
    assert fragment in err


@pytest.mark.parametrize(("top", "events", "delays", "fragment"), [
    (TWO, "snapshot N1\n", "0\n", "ran out of delay values: message #2"),
    ("# nothing but a comment\n", "tick\n", "0\n", "empty topology"),
    ("2\nN1 1\nN2 0\nN1 N2\n", "tick\nsnapshot N2\n", "0\n" * 5, "snapshot 0 (started at N2) "
     "can never finish"),
])
def test_other_errors_are_one_line(tmp_path, capsys, top, events, delays, fragment):
    paths = []
    for name, text in (("t.top", top), ("e.events", events), ("d.txt", delays)):
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    code, out, err = _conform_in_process(capsys, *paths)
    assert (code, out, err.count("\n")) == (2, "", 1), err
    assert err.startswith("ringemu: error: ") and fragment in err


def test_missing_file_via_subprocess(tmp_path):
    (tmp_path / "e.events").write_text("tick\n")
    (tmp_path / "d.txt").write_text("0\n")
    result = _cli("conform", str(tmp_path / "absent.top"), str(tmp_path / "e.events"),
                  "--delays", str(tmp_path / "d.txt"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"ringemu: error: {tmp_path / 'absent.top'}: no such file\n"


def test_cli_help():
    result = _cli("conform", "--help")
    assert result.returncode == 0
    assert "--delays FILE" in result.stdout and ".snap" in result.stdout


# -- parsers and harness on small made-up cases ----------------------------------------------
def test_top_comments_blank_lines_and_self_links():
    topo = parse_topology_text("# a ring\n\n2\n# servers\nA 3\nB 0\n\nA A\nA B\nB A\n", "x.top")
    assert topo.servers == {"A": 3, "B": 0}
    assert topo.channels == (("A", "B"), ("B", "A"))
    assert topo.total_tokens == 3


def test_events_forms():
    topo = parse_topology_text(TWO)
    events = parse_events_text("send N1 N2 1\nsnapshot N2\n\ntick\ntick 3\n", topo, "e")
    assert [type(e) for e in events] == [Send, StartSnapshot, Tick, Tick]
    assert (events[2].count, events[3].count) == (1, 3)
    assert (events[3].where.file, events[3].where.line) == ("e", 5)


def test_snap_parser_reads_several_snapshots_and_rejects_junk():
    snaps = parse_snaps_text("0\nA 1\nB 0\n\n1\nA 0\nB 0\nA B token(1)\n")
    assert [s.id for s in snaps] == [0, 1] and snaps[1].messages[0].tokens == 1
    for text, fragment in [("A 1\n", "snapshot id"), ("0\nA B coin(1)\n", "token(3)"),
                           ("0\nA 1\nA 2\n", "duplicate server"), ("0\n1 2 3 4\n", "1, 2 or 3"),
                           ("0\n0\n", "duplicate snapshot id")]:
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            parse_snaps_text(text, "x.snap")


def test_byte_order_of_servers_and_one_delivery_per_sender():
    """N10 sorts before N2, and N1 delivers at most one due message per tick (its marker to
    N10 holds back the token already due on N1->N2)."""
    topo = parse_topology_text("3\nN1 4\nN10 0\nN2 0\nN1 N10\nN1 N2\nN10 N1\nN2 N1\n")
    script = parse_events_text(
        "send N1 N2 1\nsend N1 N10 2\ntick\nsnapshot N1\nsend N10 N1 2\n", topo)
    lines: list[str] = []
    snaps = Harness(topo, script, [0] * 50, trace=lines.append).run()
    deliveries = [line for line in lines if " deliver " in line]
    assert deliveries[:5] == [
        "t=1 deliver N1->N10 token(2)",
        "t=2 deliver N1->N10 marker(0)",
        "t=2 deliver N10->N1 token(2)",
        "t=3 deliver N1->N2 token(1)",
        "t=3 deliver N10->N1 marker(0)",
    ]
    assert [s.id for s in snaps] == [0]
    assert snaps[0].tokens == {"N1": 1, "N10": 0, "N2": 1}
    assert snaps[0].messages == [Message("N10", "N1", 2)]


def test_run_script_concurrent_snapshots_conserve_tokens():
    topo = parse_topology_text("3\nA 5\nB 5\nC 5\nA B\nB C\nC A\nB A\nC B\nA C\n")
    script = parse_events_text(
        "send A B 2\nsnapshot A\nsend B C 3\ntick\nsnapshot C\nsend C A 4\nsnapshot B\ntick 2\n"
        "send A C 1\n", topo)
    snaps = run_script(topo, script, [i % 5 for i in range(100)])
    assert [s.id for s in snaps] == [0, 1, 2]
    for snap in snaps:
        assert sum(snap.tokens.values()) + sum(m.tokens for m in snap.messages) == 15
