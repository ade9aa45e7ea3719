"""Impaired links and partitions in the simulator, against the ground truth.

The simulator's links run the very ``LinkState`` the live stations' link layer runs
(``ringemu.core.impairments``), so these properties hold for the model both shells share:

1. Under FIFO impairments (delay, jitter, independent and burst loss, duplication, bandwidth;
   every link or some), with or without injected faults: no snapshot counts wrong, no alarm is
   unexplained, and no payload is duplicated, delivered out of order or silently gone (one not
   delivered is still queued at its source, to go again).
2. Delay, jitter and bandwidth alone change no verdict: the heal storms of
   ``test_heal_properties`` still end with one token, and every fault is judged as before.
3. A cut is named (cause ``cut``, the link) and, once healed, the ring is rebuilt, counts one
   and ends with one token.
4. Same seed, same run, byte for byte, impairments included; reordering says so.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringemu.checker import Outcome
from ringemu.core.impairments import Burst, Impairment
from ringemu.core.verdict import Cause, Verdict
from ringemu.faults import FaultKind, ScheduledFault
from ringemu.sim.ring import RingSim, SimConfig
from tests.test_heal_properties import storms, tokens_at_the_end

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def impairments(draw, lossy: bool = True) -> Impairment:
    delay = draw(st.floats(0.0, 300e-6))
    kw = dict(delay=delay, jitter=draw(st.floats(0.0, delay)))
    if draw(st.booleans()):
        kw["bandwidth"] = draw(st.floats(1e6, 1e9))
    if lossy:
        kw["loss"] = draw(st.sampled_from([0.0, 0.001, 0.01, 0.03]))
        kw["dup"] = draw(st.sampled_from([0.0, 0.001, 0.01, 0.03]))
        if draw(st.booleans()):
            kw["burst"] = Burst(draw(st.floats(0.0, 0.02)), draw(st.floats(0.1, 1.0)),
                                draw(st.floats(0.5, 1.0)))
    return Impairment(**kw)


@st.composite
def impaired_runs(draw):
    n = draw(st.integers(3, 12))
    faults = []
    t = 5.0
    for _ in range(draw(st.integers(0, 5))):
        t += draw(st.floats(1.0, 20.0))
        kind = draw(st.sampled_from([FaultKind.LOSE, FaultKind.DUP, FaultKind.CORRUPT,
                                     FaultKind.PAUSE]))
        arg = draw(st.floats(0.5, 4.0)) if kind == FaultKind.PAUSE else None
        faults.append(ScheduledFault(kind, round(t, 3), draw(st.integers(0, n - 1)), arg))
    links = {}
    if draw(st.booleans()):
        links = {k: draw(impairments()) for k in draw(st.sets(st.integers(0, n - 1),
                                                              max_size=3))}
    return SimConfig(
        # the drain outlasts a recovery slowed by lossy links (a lost purge, a lost token
        # again): 40 rotations once left a payload queued behind a purge still under way
        stations=n, rotations=max(t + 10, draw(st.floats(30.0, 100.0))), drain=200.0,
        seed=draw(st.integers(0, 2**32)), load=draw(st.floats(0.0, 0.5)),
        snapshot_every=draw(st.sampled_from([0.5, 1.0, 2.0])),
        recovery=draw(st.sampled_from(["purge", "rollback"])), faults=faults,
        impairment=draw(impairments()), link_impairments=links)


def assert_no_payload_silently_gone(ring: RingSim) -> None:
    """Every payload accepted and not delivered is still queued at its source."""
    ledger = ring.history.ledger
    for (src, dst), seqs in ledger.sent.items():
        missing = seqs - set(ledger.delivered.get((src, dst), ()))
        queued = {seq for d, seq in ring.stations[src].payloads.snapshot() if d == dst}
        assert missing <= queued, ((src, dst), missing - queued)


@pytest.mark.timeout(600)  # 300 examples under the ci profile, on a busy machine
@SETTINGS
@given(impaired_runs())
def test_fifo_impairments_never_make_a_wrong_count_or_an_unexplained_alarm(config):
    ring = RingSim(config)
    out = ring.run()
    j = out.judgement
    assert j.defects == [], [d.describe() for d in j.defects]
    assert [(a.alarm.kind, a.reason) for a in j.alarms if a.false] == []
    assert j.payloads["duplicates"] == 0 and j.payloads["out_of_order"] == 0
    assert_no_payload_silently_gone(ring)
    assert j.reordering == []
    assert j.valid in (True, "unknown")


@pytest.mark.timeout(600)
@SETTINGS
@given(storms(), impairments(lossy=False))
def test_delay_jitter_and_bandwidth_leave_the_heal_storms_as_they_were(config, imp):
    config.impairment = imp
    ring = RingSim(config)
    out = ring.run()
    j = out.judgement
    assert j.defects == [], [d.describe() for d in j.defects]
    assert [a.reason for a in j.alarms if a.false] == []
    pay = j.payloads
    assert (pay["duplicates"], pay["lost"], pay["out_of_order"]) == (0, 0, 0), pay
    assert tokens_at_the_end(ring) == 1
    last = [r for r in out.results if r.count is not None][-1]
    assert last.verdict is Verdict.OK and last.count == 1
    assert j.links["link_drops"] == 0 and j.links["link_dups"] == 0


@st.composite
def partitions(draw):
    n = draw(st.integers(3, 12))
    faults = []
    t = 5.0
    for _ in range(draw(st.integers(1, 4))):
        t += draw(st.floats(0.0, 10.0))
        k = draw(st.integers(0, n - 1))
        faults.append(ScheduledFault(FaultKind.CUT, round(t, 3), k))
        if draw(st.booleans()):  # another fault while the ring is cut
            kind = draw(st.sampled_from([FaultKind.LOSE, FaultKind.DUP, FaultKind.PAUSE]))
            arg = 1.0 if kind == FaultKind.PAUSE else None
            faults.append(ScheduledFault(kind, round(t + draw(st.floats(0, 3)), 3),
                                         draw(st.integers(0, n - 1)), arg))
        t += draw(st.floats(0.5, 15.0))
        faults.append(ScheduledFault(FaultKind.HEAL, round(t, 3), k))
    return SimConfig(
        stations=n, rotations=t + 10, drain=60.0, seed=draw(st.integers(0, 2**32)),
        load=draw(st.floats(0.0, 0.5)), snapshot_every=draw(st.sampled_from([0.5, 1.0, 2.0])),
        recovery=draw(st.sampled_from(["purge", "rollback"])), faults=faults,
        impairment=draw(impairments(lossy=False)))


@pytest.mark.timeout(600)
@SETTINGS
@given(partitions())
def test_cuts_are_named_and_after_heal_the_ring_counts_one(config):
    ring = RingSim(config)
    out = ring.run()
    j = out.judgement
    assert j.defects == [], [d.describe() for d in j.defects]
    assert [a.reason for a in j.alarms if a.false] == []
    cuts = [o for o in j.faults if o.fault.kind == FaultKind.CUT]
    named = {(r.link, r.cause) for r in out.results if r.cause is Cause.CUT}
    for o in cuts:
        if o.outcome is Outcome.DETECTED:
            r = next(r for r in out.results if r.snapshot_id == o.detected_by)
            assert r.verdict is Verdict.INCOMPLETE
    assert all(link is not None and link[0] in {o.fault.station for o in cuts}
               for link, _ in named)
    assert tokens_at_the_end(ring) == 1
    last = [r for r in out.results if r.count is not None][-1]
    assert last.verdict is Verdict.OK and last.count == 1
    pay = j.payloads
    assert (pay["duplicates"], pay["lost"], pay["out_of_order"]) == (0, 0, 0), pay


def test_a_cut_is_named_within_a_few_rotations_and_healed():
    cfg = SimConfig(stations=8, rotations=80, seed=4, faults=[
        ScheduledFault(FaultKind.CUT, 20, 3), ScheduledFault(FaultKind.HEAL, 40, 3)])
    ring = RingSim(cfg)
    out = ring.run()
    cut, heal = out.judgement.faults
    assert cut.outcome.value == heal.outcome.value == "detected"
    assert cut.latency / out.rotation < 5  # named within a few rotations
    r = next(r for r in out.results if r.snapshot_id == cut.detected_by)
    assert (r.verdict, r.cause, r.link, r.suspect) == (Verdict.INCOMPLETE, Cause.CUT, (3, 4), 4)
    (alarm,) = out.judgement.alarms
    assert "link 3\u21924 is cut" in alarm.alarm.detail and not alarm.false
    (m,) = out.history.memberships
    assert m[1]["reason"] == "heal" and m[1]["members"] == list(range(8))
    assert heal.latency / out.rotation < 5  # the rebuilt ring counted one within a few
    assert tokens_at_the_end(ring) == 1 and out.judgement.valid is True
    links = out.judgement.links["link_facts"]
    assert sum(v for k, v in links.items() if k.startswith(("drop token", "drop frame"))) == 1


def test_impairments_slow_the_simulated_ring_by_their_delay():
    plain = RingSim(SimConfig(stations=8, rotations=50, seed=2))
    slow = RingSim(SimConfig(stations=8, rotations=50, seed=2,
                             impairment=Impairment(delay=100e-6)))
    assert abs(slow.rotation - plain.rotation - 8 * 100e-6) < 1e-12
    one = RingSim(SimConfig(stations=8, rotations=50, seed=2,
                            link_impairments={3: Impairment(delay=1e-3)}))
    assert abs(one.rotation - plain.rotation - 1e-3) < 1e-12
    out = slow.run()
    assert out.judgement.valid is True and out.token_passes >= 8 * 50


def test_same_seed_same_impaired_run_byte_for_byte():
    def run() -> str:
        buf = io.StringIO()
        cfg = SimConfig(stations=6, rotations=120, seed=9, load=0.3,
                        impairment=Impairment(delay=50e-6, jitter=40e-6, loss=0.01, dup=0.01,
                                              burst=Burst(0.01, 0.3)),
                        faults=[ScheduledFault(FaultKind.CUT, 30, 2),
                                ScheduledFault(FaultKind.HEAL, 50, 2)])
        RingSim(cfg, on_event=lambda e: buf.write(json.dumps(e, sort_keys=True) + "\n")).run()
        return buf.getvalue()

    a = run()
    assert a == run()
    assert '"event": "link_fault"' in a and '"event": "impairment"' in a


def test_reordering_warns_and_its_wrong_counts_are_reported_as_such():
    cfg = SimConfig(stations=6, rotations=300, seed=1, snapshot_every=0.5,
                    impairment=Impairment(delay=200e-6, jitter=100e-6, reorder=0.3))
    out = RingSim(cfg).run()
    j = out.judgement
    assert j.reordering == [None]
    assert j.defects, "a marker should have overtaken a token somewhere in 300 rotations"
    assert all("reordering was on" in d.describe() for d in j.defects)
    assert j.valid is False


def test_the_sim_command_takes_the_impairment_options(tmp_path):
    events = tmp_path / "e.jsonl"
    cmd = [sys.executable, "-m", "ringemu", "sim", "-n", "6", "-r", "100", "--json", "-q",
           "--delay", "50us", "--loss", "2%", "--impair", "3:delay=1ms,dup=5%",
           "--inject", "cut@30:1", "--inject", "heal@45:1", "--events", str(events)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 2), p.stderr
    data = json.loads(p.stdout.splitlines()[-1])
    assert data["wrong_counts"] == 0 and data["false_alarms"] == 0
    assert data["link_drops"] > 0 and data["reordering"] is False
    kinds = [(f["kind"], f["outcome"]) for f in data["faults"]]
    assert kinds == [("cut", "detected"), ("heal", "detected")]
    imps = [json.loads(line) for line in events.read_text().splitlines()
            if '"impairment"' in line and '"event": "impairment"' in line]
    assert [(e["station"], e["text"]) for e in imps] == [
        (None, "delay 50us, loss 2%"), (3, "delay 1ms, loss 2%, dup 5%")]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.stdout == p.stdout
    warned = subprocess.run(cmd[:8] + ["--delay", "50us", "--reorder", "10%"],
                            capture_output=True, text=True, timeout=120)
    assert "ringemu: warning: reordering lets a marker overtake a token" in warned.stderr


def test_a_cut_shorter_than_its_detection_time_is_still_named_when_it_heals():
    cfg = SimConfig(stations=8, rotations=60, seed=3, faults=[
        ScheduledFault(FaultKind.CUT, 20, 5), ScheduledFault(FaultKind.HEAL, 21, 5)])
    out = RingSim(cfg).run()
    cut, heal = out.judgement.faults
    assert (cut.outcome.value, heal.outcome.value) == ("detected", "detected")
    r = next(r for r in out.results if r.snapshot_id == cut.detected_by)
    assert (r.cause, r.link) == (Cause.CUT, (5, 6))
    assert out.judgement.valid is True


def test_a_snapshot_whose_marker_a_link_dropped_is_concluded_at_once_naming_the_link():
    cfg = SimConfig(stations=6, rotations=300, seed=5, impairment=Impairment(loss=0.02))
    ring = RingSim(cfg)
    out = ring.run()
    dropped = [r for r in out.results if r.cause is Cause.DROPPED]
    markers = {f.sid: f for f in out.history.link_faults if f.what == "marker"}
    assert dropped, "2% loss over 300 rotations drops some marker"
    for r in dropped:
        fact = markers[r.snapshot_id]
        assert r.link == (fact.station, fact.to) and r.suspect == fact.to
        assert r.finished <= fact.fired_at + 2 * ring.control_delay  # as soon as it is told
    assert out.judgement.false_alarms == [] and out.judgement.defects == []
