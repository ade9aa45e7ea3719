"""10,000 random and mutated frames thrown at a running station's ring link.

Bit flips, truncations, wrong lengths, bad FCS, missing or foreign link headers, messages of an
old epoch, random bytes: the station must stay up, drop and count every one (``malformed`` or
``stale`` in ``ringemu status``), keep its log short (rate-limited), and the ring must go on
passing tokens with no alarm the ground-truth checker calls false.

Mutations that happen to decode as a valid ring message of the current epoch are not sent:
a valid free token or frame from outside is a genuine extra token (the next snapshot would count
it and rightly raise DUPLICATE, but no fault in the run's log would explain it), and a valid
purge or claim would act on the ring. The test counts how many such mutations it drew, and
checks the codec really accepts exactly those.
"""

from __future__ import annotations

import random
import struct
import time

import pytest
import zmq

from ringemu.core.messages import FREE_TOKEN, Frame, Marker, Purge
from ringemu.errors import MalformedFrame
from ringemu.frames import codec, link
from tests.live_helpers import wait_for

pytestmark = pytest.mark.live

N = 10_000


def seeds() -> list[bytes]:
    """Well-formed 802.5 octets to mutate."""
    return [codec.encode(FREE_TOKEN), codec.encode(Frame(1, 2, 7, b"payload" * 9)),
            codec.encode(Marker(3, 1)), codec.encode(Purge(0, 5)),
            codec.encode(Frame(2, 0, 1, b""))]


def mutate(rng: random.Random, epoch: int) -> bytes:
    body = rng.choice(seeds())
    how = rng.randrange(8)
    if how == 0:  # bit flips
        b = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        body = bytes(b)
    elif how == 1:  # truncated
        body = body[:rng.randrange(len(body))]
    elif how == 2:  # wrong length: junk appended
        body = body + rng.randbytes(rng.randint(1, 40))
    elif how == 3:  # bad FCS
        if len(body) > 8:
            fcs = struct.unpack("<I", body[-6:-2])[0] ^ rng.randint(1, 2**32 - 1)
            body = body[:-6] + struct.pack("<I", fcs) + body[-2:]
    elif how == 4:  # random octets
        return rng.randbytes(rng.randint(0, 120))
    elif how == 5:  # an old (or future) epoch
        return link.header(epoch + rng.choice([1, 2, 7])) + body
    elif how == 6:  # no link header at all
        return body
    else:  # a broken header
        return bytes((link.LINK ^ 1,)) + struct.pack(">I", epoch) + body
    return link.header(epoch) + body


def acceptable(data: bytes, epoch: int) -> bool:
    """Would a station in ``epoch`` act on these octets?"""
    try:
        e, body = link.split(data)
        if e != epoch or not body or body[0] != codec.SD:
            return False
        return type(codec.decode(body)) is not codec.MacFrame
    except MalformedFrame:
        return False


def test_ten_thousand_mutated_frames_are_dropped_and_counted_and_the_ring_goes_on(
        tmp_path, short_runtime):
    from ringemu.checker import judge
    from ringemu.core.history import RunHistory
    from ringemu.live.launcher import LiveRing, RingConfig
    from ringemu.live.paths import read_events

    ring = LiveRing(RingConfig(stations=4, snapshot_interval=0.05, runs_dir=str(tmp_path)))
    try:
        ring.start()
        wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 3)
        before = ring.request({"cmd": "status"})
        target = f"ipc://{ring.runtime_dir / 'ring-2'}"
        rng = random.Random(2026)
        sent = skipped = 0
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.sndhwm = 100_000
        push.connect(target)
        try:
            while sent < N:
                data = mutate(rng, before["epoch"])
                if data == b"!" or acceptable(data, before["epoch"]):
                    skipped += 1
                    continue
                push.send(data)
                sent += 1
                if sent % 500 == 0:
                    time.sleep(0.01)  # let the ring breathe between bursts
        finally:
            push.close(linger=2000)
            ctx.term()

        def dropped() -> int:
            ring.request({"cmd": "summary"}, timeout=5.0)  # fresh station counters
            s = ring.request({"cmd": "status"})
            return s["malformed"] + s["stale"] - before["malformed"] - before["stale"]

        wait_for(lambda: dropped() >= N, timeout=30)
        after = ring.request({"cmd": "status"})
        assert dropped() == N, (sent, skipped)
        assert after["station_states"]["2"] == "alive"
        a = after["token_passes"]
        wait_for(lambda: ring.request({"cmd": "status"})["token_passes"] > a + 500)
        wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] > after["snapshots"] + 3)
        log = (ring.run_dir / "stations" / "station-2.log").read_text().splitlines()
        assert len(log) < 50, "the station's log was flooded"
    finally:
        ring.stop()
    h = RunHistory.from_events(read_events(ring.run_dir / "events.jsonl"))
    j = judge(h, final=False)
    assert j.false_alarms == [] and j.defects == []
    assert skipped < N // 5  # the mutations mostly produce junk, as they should
