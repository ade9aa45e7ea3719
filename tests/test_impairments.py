"""The link impairment model (``ringemu.core.impairments``): parsing, and what it decides.

The decisions are drawn from a seeded ``random.Random``, so each figure below is fixed for its
seed; the bounds are those the model promises (several standard deviations wide), so a model
that drew wrongly (a loss rate off by a factor, bursts no longer than independent losses, a
FIFO link that lets a message overtake) fails them.
"""

from __future__ import annotations

import math
import random

import pytest

from ringemu.core.impairments import NONE, Burst, Impairment, LinkState
from ringemu.core.messages import FREE_TOKEN, Amp, Frame, Marker, Purge
from ringemu.core.station import Station
from ringemu.core.station_events import FaultFired, LinkFault
from ringemu.errors import RemoteProtocolError


def link(seed: int = 7, **kw) -> LinkState:
    return LinkState(Impairment(**kw), random.Random(seed))


def station(index: int = 2, n: int = 6) -> Station:
    return Station(index, n)


def send_many(state: LinkState, n: int, *, gap: float = 1e-3, size: int = 8,
              msg: object = FREE_TOKEN) -> list[tuple[float, tuple]]:
    st = station()
    out = []
    for i in range(n):
        now = i * gap
        out.append((now, state.transmit(msg, size, now, st)))
    st.outbox.clear()
    return out


# -- parsing -----------------------------------------------------------------------------------
def test_the_users_units_are_read():
    imp = Impairment.from_mapping({"delay": "5ms", "jitter": "200us", "loss": "1%", "dup": 0.02,
                                   "reorder": "0%", "bandwidth": "10mbit",
                                   "burst-loss": "1%/30%/50%"})
    assert imp.delay == pytest.approx(0.005) and imp.jitter == pytest.approx(200e-6)
    assert imp.loss == pytest.approx(0.01) and imp.dup == pytest.approx(0.02)
    assert imp.bandwidth == pytest.approx(10e6)
    assert (imp.burst.p, imp.burst.r, imp.burst.loss) == pytest.approx((0.01, 0.3, 0.5))
    assert Impairment.from_mapping({"delay": "1s"}).delay == 1.0
    assert Impairment.from_mapping({"burst_loss": "2%/40%"}).burst.loss == 1.0  # _ for -
    assert Impairment.from_mapping({"delay": "0"}) == NONE
    assert Impairment.from_mapping({"bandwidth": "64kbps"}).bandwidth == 64e3


def test_every_form_goes_round():
    imp = Impairment.from_mapping({"delay": "5ms", "jitter": "1ms", "loss": "0.5%",
                                   "burst-loss": "1%/30%", "dup": "1%", "bandwidth": "2mbit"})
    assert Impairment.from_mapping(imp.to_mapping()) == imp
    assert Impairment.from_json(imp.to_json()) == imp
    assert imp.describe() == ("delay 5ms, jitter 1ms, loss 0.5%, burst-loss 1%/30%, dup 1%, "
                              "bandwidth 2mbit")
    assert NONE.describe() == "none" and not NONE.active and imp.active


@pytest.mark.parametrize("mapping,needle", [
    ({"delay": "5"}, "delay: '5' needs a unit"),
    ({"delay": "5 parsecs"}, "delay: unknown unit"),
    ({"delay": "-5ms"}, "delay: '-5ms' is negative"),
    ({"delay": "nanms"}, "delay: 'nanms' is not a finite number"),
    ({"delay": float("nan")}, "delay"),
    ({"jitter": "infs"}, "jitter"),
    ({"jitter": float("inf")}, "jitter"),
    ({"delay": "61s"}, "delay: '61s' is more than 60 s"),
    ({"loss": "150%"}, "loss: '150%' is more than 100%"),
    ({"loss": "-1%"}, "loss"),
    ({"loss": "nan"}, "loss"),
    ({"loss": float("nan")}, "loss"),
    ({"loss": "1ms"}, "loss: '1ms' is not a share"),
    ({"dup": True}, "dup"),
    ({"reorder": "inf"}, "reorder"),
    ({"bandwidth": "0"}, "bandwidth"),
    ({"bandwidth": "10 furlongs"}, "bandwidth: unknown unit"),
    ({"bandwidth": "nan"}, "bandwidth"),
    ({"burst-loss": "1%"}, "burst-loss: expected P/R[/LOSS]"),
    ({"burst-loss": "1%/0%"}, "burst-loss: r"),
    ({"burst-loss": "1%/nan"}, "burst-loss"),
    ({"burst-loss": "1%/30%/200%"}, "burst-loss"),
    ({"lose": "1%"}, "unknown impairment key 'lose'"),
])
def test_a_bad_value_is_refused_naming_its_key(mapping, needle):
    with pytest.raises(ValueError) as e:
        Impairment.from_mapping(mapping)
    assert needle in str(e.value)


def test_nan_and_infinity_are_refused_however_they_come():
    for bad in (float("nan"), float("inf"), -float("inf")):
        for key in ("delay", "jitter", "loss", "dup", "reorder"):
            with pytest.raises(ValueError, match=key):
                Impairment(**{key: bad})
        with pytest.raises(ValueError, match="bandwidth"):
            Impairment(bandwidth=bad)
        with pytest.raises(ValueError, match="burst-loss"):
            Burst(0.1, bad)
    with pytest.raises(ValueError, match="burst-loss"):
        Impairment.from_json({"burst_loss": [0.1, float("nan")]})
    with pytest.raises(ValueError, match="unknown"):
        Impairment.from_json({"delay": 0.1, "evil": 1})


# -- decisions ------------------------------------------------------------------------------
def test_no_impairment_delivers_everything_at_once_in_order():
    out = send_many(link(), 1000)
    assert all(copies == ((now, True),) for now, copies in out)


def test_independent_loss_drops_its_share():
    n, p = 20_000, 0.1
    out = send_many(link(loss=p), n)
    dropped = sum(1 for _, c in out if not c)
    sd = math.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 4 * sd, dropped


def test_duplication_sends_two_copies_of_its_share():
    n, p = 20_000, 0.05
    out = send_many(link(dup=p), n)
    twice = sum(1 for _, c in out if len(c) == 2)
    assert abs(twice - n * p) < 4 * math.sqrt(n * p * (1 - p)), twice
    assert all(len(c) in (1, 2) for _, c in out)


def test_delay_and_jitter_stay_in_their_window_and_average_the_delay():
    delay, jitter = 5e-3, 1e-3
    out = send_many(link(delay=delay, jitter=jitter), 5000, gap=0.01)  # far apart: no FIFO wait
    waits = [c[0][0] - now for now, c in out]
    assert min(waits) >= delay - jitter - 1e-12 and max(waits) <= delay + jitter + 1e-12
    assert abs(sum(waits) / len(waits) - delay) < 0.05 * jitter  # uniform: mean is the delay
    assert max(waits) - min(waits) > 1.8 * jitter  # it does spread


def test_a_jittery_link_stays_fifo():
    out = send_many(link(delay=5e-3, jitter=4e-3), 5000, gap=1e-4)  # messages closer than jitter
    leaves = [c[0][0] for _, c in out]
    assert leaves == sorted(leaves)
    assert all(c[0][1] for _, c in out)


def test_reordering_lets_messages_overtake():
    out = send_many(link(delay=5e-3, reorder=0.2), 2000, gap=1e-4)
    leaves = [c[0][0] for _, c in out]
    overtaking = sum(1 for a, b in zip(leaves, leaves[1:]) if b < a)
    assert overtaking > 100
    reordered = sum(1 for _, c in out if not c[0][1])
    assert abs(reordered - 400) < 4 * math.sqrt(2000 * 0.2 * 0.8)
    assert link(reorder=0.2).impairment.warning() and NONE.warning() is None


def test_bandwidth_spaces_back_to_back_messages():
    bw, size = 1e6, 125  # 1000 bits: 1 ms each
    out = send_many(link(bandwidth=bw), 10, gap=0.0, size=size)
    leaves = [c[0][0] for _, c in out]
    assert leaves == pytest.approx([(i + 1) * 1e-3 for i in range(10)])
    assert link(bandwidth=bw).impairment.trip(125) == pytest.approx(1e-3)


def test_gilbert_elliott_bursts_have_the_documented_rate_and_length():
    p, r = 0.02, 0.25  # bursts of 4 messages on average, bad 2/27 of the time
    n = 100_000
    out = send_many(link(seed=3, burst=Burst(p, r)), n)
    lost = [not c for _, c in out]
    rate = sum(lost) / n
    expect = Burst(p, r).mean_loss
    assert expect == pytest.approx(p / (p + r))
    assert abs(rate - expect) < 0.15 * expect, rate
    runs, current = [], 0
    for x in lost:
        if x:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    mean_run = sum(runs) / len(runs)
    assert abs(mean_run - Burst(p, r).mean_burst) < 0.5, mean_run
    # independent loss at the same rate makes runs of about 1 / (1 - rate): far shorter
    ind = [not c for _, c in send_many(link(seed=3, loss=rate), n)]
    ind_runs = sum(1 for a, b in zip(ind, ind[1:]) if a and not b)
    assert sum(ind) / ind_runs < 1.2 < mean_run - 2


def test_burst_loss_in_the_bad_state_is_a_share():
    out = send_many(link(seed=5, burst=Burst(0.05, 0.2, 0.5)), 50_000)
    rate = sum(1 for _, c in out if not c) / 50_000
    assert abs(rate - Burst(0.05, 0.2, 0.5).mean_loss) < 0.02


def test_the_same_seed_decides_the_same():
    kw = dict(delay=1e-3, jitter=1e-3, loss=0.1, dup=0.1, burst=Burst(0.05, 0.3))
    assert send_many(link(seed=11, **kw), 2000) == send_many(link(seed=11, **kw), 2000)
    assert send_many(link(seed=11, **kw), 2000) != send_many(link(seed=12, **kw), 2000)
    half = Impairment(loss=0.5)
    assert send_many(LinkState.seeded(1, 3, half), 200) == send_many(
        LinkState.seeded(1, 3, half), 200)


# -- facts -----------------------------------------------------------------------------------
def test_a_dropped_or_duplicated_token_unit_is_a_fact_with_the_senders_step():
    st = station()
    st.on_receive(FREE_TOKEN, 0.0)  # a step or two on its logical clock
    state = link(loss=1.0)
    assert state.transmit(FREE_TOKEN, 8, 1.0, st) == ()
    frame = Frame(2, 4, 1, b"x")
    assert state.transmit(frame, 30, 1.1, st) == ()
    facts = [e for e in st.outbox if type(e) is LinkFault]
    assert [(f.what, f.action, f.cause, f.effect, f.to, f.step) for f in facts] == [
        ("token", "drop", "loss", -1, 3, st.step()), ("frame", "drop", "loss", -1, 3, st.step())]
    st.outbox.clear()
    dup = link(dup=1.0)
    assert len(dup.transmit(FREE_TOKEN, 8, 2.0, st)) == 2
    (fact,) = st.outbox
    assert (fact.action, fact.cause, fact.effect) == ("dup", "dup", 1)


def test_a_dropped_marker_names_its_snapshot_and_other_messages_are_only_counted():
    st = station()
    state = link(loss=1.0)
    for msg in (Marker(9, 0), Purge(0, 1), Amp(0)):
        assert state.transmit(msg, 20, 0.0, st) == ()
    (fact,) = st.outbox
    assert (fact.what, fact.sid, fact.effect) == ("marker", 9, 0)
    assert state.stats.dropped == 3
    st.outbox.clear()
    LinkState(Impairment(dup=1.0), random.Random(1)).transmit(Purge(0, 1), 20, 0.0, st)
    assert st.outbox == []  # a duplicated purge changes no count


def test_a_cut_drops_everything_to_its_station_and_heal_brings_it_back():
    st = station(2, 6)
    state = LinkState()
    assert state.cut(st, 1.0) and not state.cut(st, 1.0)
    assert isinstance(st.outbox[0], FaultFired) and st.outbox[0].fault == "cut"
    assert state.transmit(FREE_TOKEN, 8, 1.1, st) == ()
    assert state.transmit(Marker(1, 0), 20, 1.2, st) == ()
    assert [f.cause for f in st.outbox if type(f) is LinkFault] == ["cut", "cut"]
    st.downstream = 4  # the ring was rebuilt round station 3: that link is not the cut one
    assert state.transmit(FREE_TOKEN, 8, 1.3, st) == ((1.3, True),)
    st.downstream = 3
    assert state.heal(st, 2.0) and not state.heal(st, 2.0)
    assert state.transmit(FREE_TOKEN, 8, 2.1, st) == ((2.1, True),)
    assert state.idle


@pytest.mark.parametrize("event", [
    {"action": "drop", "what": "token", "cause": "loss", "effect": 5, "sid": None},
    {"action": "drop", "what": "token", "cause": "dup", "effect": -1, "sid": None},
    {"action": "drop", "what": "car", "cause": "loss", "effect": -1, "sid": None},
    {"action": "dup", "what": "marker", "cause": "dup", "effect": 0, "sid": 3},
    {"action": "drop", "what": "marker", "cause": "loss", "effect": 0, "sid": None},
    {"action": "drop", "what": "token", "cause": "loss", "effect": -1, "sid": 4},
])
def test_a_station_cannot_report_a_fact_a_link_cannot_state(event):
    from ringemu.core.station_events import station_event_from_json

    with pytest.raises(RemoteProtocolError):
        station_event_from_json({"event": "link_fault", "station": 1, "t": 0.0, "to": 2,
                                 "step": 3, **event})
