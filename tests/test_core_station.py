"""The station state machine, driven by hand through a tiny in-memory ring (no sockets)."""

from __future__ import annotations

import pytest

from ringemu.core.messages import FREE_TOKEN, Frame, Garbled, Marker, Purge, Token
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station import AWAITING, HOLDING, IDLE, PURGING, Station
from ringemu.core.station_events import StationEvent
from ringemu.errors import LocalProtocolError


class Ring:
    """N stations joined by FIFO lists; ``step`` delivers the oldest message anywhere."""

    def __init__(self, n: int, **kw) -> None:
        self.stations = [Station(i, n, active_monitor=(i == 0), **kw) for i in range(n)]
        self.links: list[list] = [[] for _ in range(n)]  # links[i]: i -> i+1
        self.now = 0.0
        self.order: list[tuple[int, object]] = []  # (link, msg) in send order

    def send(self, i: int, out: tuple) -> None:
        for m in out:
            self.links[i].append(m)
            self.order.append((i, m))

    def step(self) -> tuple[int, object] | None:
        """Deliver the globally oldest message still on a link (a FIFO-per-link schedule)."""
        while self.order:
            i, m = self.order.pop(0)
            if self.links[i] and self.links[i][0] is m:
                self.links[i].pop(0)
                j = (i + 1) % len(self.stations)
                self.now += 1e-6
                self.send(j, self.stations[j].on_receive(m, self.now))
                return j, m
        return None

    def run(self, steps: int) -> None:
        for _ in range(steps):
            if self.step() is None:
                return

    def token_units(self) -> int:
        on_links = sum(1 for link in self.links for m in link if type(m) in (Token, Frame))
        return on_links + sum(s.tokens_held() for s in self.stations)

    def events(self, kind: str) -> list[StationEvent]:
        return [e for s in self.stations for e in s.outbox
                if isinstance(e, StationEvent) and e.kind == kind]


def test_free_token_is_repeated_unchanged():
    ring = Ring(3)
    ring.send(0, (FREE_TOKEN,))
    ring.run(9)
    assert ring.token_units() == 1
    assert [s.stats.tokens for s in ring.stations] == [3, 3, 3]


def test_payload_capture_copy_strip_release():
    ring = Ring(4)
    ring.stations[1].send_payload(3, b"hello")
    ring.send(0, (FREE_TOKEN,))
    j, m = ring.step()  # station 1 gets the token and captures it
    assert (j, m) == (1, FREE_TOKEN)
    assert ring.stations[1].mode is AWAITING
    frame = ring.links[1][0]
    assert isinstance(frame, Frame) and (frame.src, frame.dst, frame.payload) == (1, 3, b"hello")
    assert ring.token_units() == 1
    ring.run(2)  # stations 2 and 3: 3 copies it (and repeats it with FS A and C set)
    assert not (frame.recognized or frame.copied)  # the frame 1 sent stays as it was sent
    repeated = ring.links[3][0]
    assert (repeated.src, repeated.seq) == (1, frame.seq)
    assert repeated.recognized and repeated.copied
    assert ring.stations[3].stats.delivered == 1
    ring.run(2)  # back through 0 to 1, which strips it and releases a free token
    assert ring.stations[1].mode is IDLE
    assert ring.stations[1].stats.acked == 1
    assert ring.links[1] == [FREE_TOKEN]
    assert ring.token_units() == 1


def test_frame_to_absent_station_returns_uncopied():
    ring = Ring(3)
    ring.stations[0].send_payload(2, 8)
    ring.stations[2].inject("lose", 0.0)  # 2 swallows the frame: never copied, never back
    ring.send(2, (FREE_TOKEN,))
    ring.run(5)
    assert ring.token_units() == 0
    assert ring.stations[2].stats.dropped == 1
    assert ring.stations[0].mode is AWAITING


def test_holding_time_allows_several_frames_per_capture():
    ring = Ring(3, holding_time=1.0)
    for _ in range(3):
        ring.stations[0].send_payload(1, 4)
    ring.send(2, (FREE_TOKEN,))
    ring.run(3 * 3 + 1)
    assert ring.stations[0].stats.sent == 3
    assert ring.stations[0].stats.acked == 3
    assert ring.token_units() == 1


def test_holding_time_zero_releases_after_each_frame():
    ring = Ring(3, holding_time=0.0)
    for _ in range(2):
        ring.stations[0].send_payload(1, 4)
    ring.send(2, (FREE_TOKEN,))
    ring.run(4)  # token reaches 0, frame goes round and is stripped
    assert ring.stations[0].stats.sent == 1
    assert ring.links[0] == [FREE_TOKEN]


def test_lose_drops_next_token_unit_and_reports_it():
    ring = Ring(3)
    ring.stations[1].inject("lose", 0.0)
    ring.send(0, (FREE_TOKEN,))
    ring.run(5)
    assert ring.token_units() == 0
    (ev,) = ring.events("fault_fired")
    assert (ev.station, ev.fault, ev.effect) == (1, "lose", -1)


def test_dup_adds_a_token_immediately():
    ring = Ring(3)
    ring.send(0, (FREE_TOKEN,))
    ring.send(2, ring.stations[2].inject("dup", 0.0))
    assert ring.token_units() == 2
    ring.run(20)
    assert ring.token_units() == 2
    (ev,) = ring.events("fault_fired")
    assert (ev.station, ev.t, ev.fault, ev.effect) == (2, 0.0, "dup", 1)


def test_dup_while_holding_releases_two():
    ring = Ring(3, hold=0.5)
    ring.send(0, (FREE_TOKEN,))
    ring.step()
    st = ring.stations[1]
    assert st.mode is HOLDING and st.tokens_held() == 1
    assert st.inject("dup", 0.1) == ()
    ring.send(1, st.on_timer(1.0))
    assert ring.links[1] == [FREE_TOKEN, FREE_TOKEN]


def test_corrupt_garbles_next_unit_and_receiver_counts_it():
    ring = Ring(3)
    ring.stations[0].inject("corrupt", 0.0)
    ring.send(2, (FREE_TOKEN,))
    ring.step()
    (garbled,) = ring.links[0]
    assert isinstance(garbled, Garbled) and garbled.original is FREE_TOKEN
    ring.links[0].clear()
    ring.stations[1].on_malformed(garbled.reason, 1.0)
    assert ring.stations[1].stats.malformed == 1
    assert ring.token_units() == 0


def test_unknown_fault_kind_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        Station(0, 2).inject("explode", 0.0)


@pytest.mark.parametrize("extra", [0, 1, 3])
def test_purge_leaves_exactly_one_token(extra):
    ring = Ring(5)
    ring.stations[2].send_payload(4, 16)
    ring.send(0, (FREE_TOKEN,))
    for _ in range(extra):
        ring.send(3, ring.stations[3].inject("dup", 0.0))
    ring.run(3)
    ring.send(0, ring.stations[0].start_purge(ring.now))
    assert ring.stations[0].mode is PURGING
    ring.run(200)
    assert ring.stations[0].mode is IDLE
    assert ring.stations[0].stats.purges == 1
    assert ring.token_units() == 1
    assert [e.number for e in ring.events("purge_done")] == [1]


def test_purge_recovers_a_lost_token():
    ring = Ring(4)
    ring.stations[2].inject("lose", 0.0)
    ring.send(0, (FREE_TOKEN,))
    ring.run(10)
    assert ring.token_units() == 0
    ring.send(0, ring.stations[0].start_purge(ring.now))
    ring.run(10)
    assert ring.token_units() == 1


def test_only_active_monitor_purges():
    with pytest.raises(LocalProtocolError):
        Station(1, 3).start_purge(0.0)


def test_second_purge_request_while_purging_is_ignored():
    st = Station(0, 3, active_monitor=True)
    assert len(st.start_purge(0.0)) == 1
    assert st.start_purge(0.1) == ()
    assert st.purge_number == 1


def test_stale_purge_of_our_own_is_dropped():
    st = Station(0, 3, active_monitor=True)
    assert st.on_receive(Purge(0, 7), 0.0) == ()


def test_active_monitor_removes_orphan_frame_and_purges():
    st = Station(0, 4, active_monitor=True)
    frame = Frame(2, 3, 1, b"x")
    (marked,) = st.on_receive(frame, 0.0)
    assert marked == frame.monitored() and marked.monitor and not frame.monitor
    out = st.on_receive(marked, 1.0)  # seen again: its source never stripped it
    assert len(out) == 1 and isinstance(out[0], Purge)
    assert st.stats.orphans == 1 and st.mode is PURGING


def test_start_snapshot_sends_marker_and_records_state():
    st = Station(1, 3)
    (marker,) = st.start_snapshot(5, 0.0)
    assert marker == Marker(5, 1)
    st.on_receive(FREE_TOKEN, 0.1)  # recorded on channel 0 -> 1
    assert st.on_receive(Marker(5, 1), 0.2) == ()  # own marker back: done
    (part,) = [p for p in st.outbox if isinstance(p, LocalSnapshot)]
    assert part.snapshot_id == 5 and part.state.tokens == 0 and part.state.at == 0.0
    assert part.channels == {0: [FREE_TOKEN]}


def test_marker_is_forwarded_once_and_part_reported_at_once():
    st = Station(2, 4)
    assert st.on_receive(Marker(9, 0), 0.0) == (Marker(9, 0),)
    (part,) = st.outbox
    assert part.channels == {1: []}
    assert st.on_receive(Marker(9, 0), 0.1) == ()  # a stray repeat is ignored


def test_station_bounds():
    with pytest.raises(LocalProtocolError):
        Station(0, 1)
    with pytest.raises(LocalProtocolError):
        Station(3, 3)
    with pytest.raises(LocalProtocolError):
        Station(0, 3).send_payload(0, b"self")


def _suspicions(st: Station) -> list:
    return [e for e in st.outbox if type(e).__name__ == "Suspicion"]


def _feed_gaps(st: Station, gaps: list[float]) -> None:
    t = 0.0
    for g in gaps:
        t += g
        st.on_receive(FREE_TOKEN, t)


def test_a_loaded_machines_rotations_raise_no_too_soon_suspicion():
    """Rotations of 0.2 ms with jitter and, every 20th, a 30 ms stall: the mean rotation is
    seven times the usual one, and still no gap is short twice in a row of rotations."""
    import random

    from ringemu.core.timers import StationTimers

    rng = random.Random(7)
    st = Station(2, 8)
    st.set_timers(StationTimers.for_rotation(0.0017))  # the mean a hop rate would give
    gaps = [0.030 if i % 20 == 19 else rng.uniform(0.00018, 0.00026) for i in range(4000)]
    _feed_gaps(st, gaps)
    assert _suspicions(st) == []


@pytest.mark.parametrize("spacing", [0.1, 0.3, 0.7, 0.9])
def test_a_duplicate_anywhere_in_the_ring_raises_a_too_soon_suspicion(spacing):
    """After a steady ring of 0.2 ms rotations, a second token ``spacing`` of a rotation behind
    the first: the station suspects within a few rotations."""
    from ringemu.core.timers import StationTimers

    st = Station(2, 8)
    st.set_timers(StationTimers.for_rotation(0.0002))
    _feed_gaps(st, [0.0002] * 500)
    assert _suspicions(st) == []
    _feed_gaps(st, [0.0002 * spacing, 0.0002 * (1 - spacing)] * 3)
    (s,) = _suspicions(st)
    assert "usual gap, twice" in s.reason
def test_a_lost_purge_is_sent_again_and_a_resigning_monitor_stops_purging():
    """A lossy link may eat the purge: the active monitor sends it again each valid-
    transmission time; and an active monitor that gives up its role (a claim, another's purge)
    abandons its purge, or it would absorb the new monitor's token for ever."""
    from ringemu.core.messages import Claim
    from ringemu.core.state import Mode
    from ringemu.core.timers import StationTimers

    am = Station(0, 4, active_monitor=True)
    am.set_timers(StationTimers.for_rotation(0.001, 0.005))
    assert am.start_purge(0.0) == (Purge(0, 1),)
    assert am.next_timer() == pytest.approx(0.005)
    assert Purge(0, 1) in am.on_timer(0.005)  # the same purge, again
    assert am.mode is Mode.PURGING
    assert am.on_receive(Claim(3), 0.01) == (Claim(3),)
    assert am.mode is Mode.IDLE and not am.is_active_monitor
    assert am.on_receive(FREE_TOKEN, 0.02) == (FREE_TOKEN,)  # passed on, not absorbed
    other = Station(1, 4, active_monitor=True)
    other.set_timers(StationTimers.for_rotation(0.001, 0.005))
    other.start_purge(0.0)
    other.on_receive(Purge(3, 7), 0.01)
    assert other.mode is Mode.IDLE and not other.is_active_monitor


def test_a_restarted_station_announces_the_payloads_it_takes_over_from_its_journal():
    """The process that accepted a payload may die after journaling it and before its own
    announcement left; the new process announces every payload it takes over (the run's
    ledger keeps each once), so a delivery is never of a payload nobody heard was sent."""
    from ringemu.core.payloads import JournalEntry, PayloadSent

    old = Station(3, 8)
    old.payloads.accept(5, b"x", 0.1)
    old.payloads.accept(6, b"y", 0.2)
    journal = [e for e in old.outbox if type(e) is JournalEntry]
    journal.append(JournalEntry("ack", 5, 1))  # the first was delivered and acknowledged
    new = Station(3, 8)
    new.payloads.restore(journal, 7.0)
    assert [(e.dst, e.seq, e.t, e.restored) for e in new.outbox
            if type(e) is PayloadSent] == [(6, 1, 7.0, True)]
    assert new.payloads.snapshot() == ((6, 1),)


def test_a_restarted_station_says_again_the_last_payload_it_delivered_from_each_source():
    """Its old process may have journaled a delivery and died before saying it: the new one
    says the last delivery from each source again, and the ledger counts it only once."""
    from ringemu.core.history import Ledger
    from ringemu.core.payloads import JournalEntry, PayloadDelivered

    journal = [JournalEntry("deliver", 1, 1), JournalEntry("deliver", 1, 2),
               JournalEntry("deliver", 4, 1)]
    new = Station(3, 8)
    new.payloads.restore(journal, 9.0)
    said = [(e.src, e.seq, e.restored) for e in new.outbox if type(e) is PayloadDelivered]
    assert said == [(1, 2, True), (4, 1, True)]
    ledger = Ledger()
    for src, seq in ((1, 1), (1, 2)):  # the old process said these; not 4's
        ledger.on_sent(src, 3, seq)
        ledger.on_delivered(src, 3, seq)
    ledger.on_sent(4, 3, 1)
    for src, seq, restored in said:
        ledger.on_delivered(src, 3, seq, restored)
    account = ledger.account()
    assert (account["payloads_delivered"], account["duplicates"], account["lost"]) == (3, 0, 0)
