"""The live ring heals: real processes killed, paused, restarted, and a ring that goes on.

- a killed station is named by an INCOMPLETE verdict, bypassed (a new membership epoch), and
  the smaller ring passes tokens and counts one again;
- with ``--restart`` it comes back, is inserted between its neighbours, and every payload is
  delivered exactly once (the restarted station resumes from its journal);
- ``ringemu restart K`` (the ``restart`` control request) brings a dead station back;
- killing the active monitor makes the standbys elect a new one, which purges later faults;
- under ``--recovery rollback`` a lost token is recovered by rolling back to a snapshot.

Every test checks afterwards that no process of its ring is left.
"""

from __future__ import annotations

import pytest

from tests.live_helpers import wait_for
from ringemu.live.launcher import LiveRing
from ringemu.live.paths import read_events

pytestmark = pytest.mark.live


def status(ring: LiveRing) -> dict:
    ring.poll_children()
    return ring.request({"cmd": "status"})


def events(ring: LiveRing, kind: str) -> list[dict]:
    ring.poll_children()  # as ringemu up and run do: the launcher reaps and restarts
    return [e for e in read_events(ring.run_dir / "events.jsonl") if e["event"] == kind]


def passes_again(ring: LiveRing) -> bool:
    a = status(ring)["token_passes"]
    wait_for(lambda: status(ring)["token_passes"] > a + 200, timeout=10)
    return True


def test_a_killed_station_is_named_bypassed_and_the_ring_goes_on(ring_factory):
    ring = ring_factory(stations=6, snapshot_interval=0.05)
    wait_for(lambda: status(ring)["snapshots"] >= 3)
    assert ring.request({"cmd": "inject", "kind": "kill", "station": 3})["ok"]
    s = wait_for(lambda: (lambda s: s if s["bypassed"] == [3] else None)(status(ring)))
    assert s["members"] == [0, 1, 2, 4, 5] and s["epoch"] == 1
    (m,) = events(ring, "membership")
    assert m["reason"] == "bypass" and m["bypassed"] == [3]
    assert passes_again(ring)
    wait_for(lambda: status(ring)["alarms"] == [])  # the smaller ring counted one
    summary = ring.request({"cmd": "summary"}, timeout=5.0)
    (alarm,) = summary["alarms"]
    assert alarm["kind"] == "INCOMPLETE" and alarm["station"] == 3 and not alarm["false"]
    assert alarm["cleared"] is not None
    (fault,) = summary["faults"]
    assert fault["outcome"] == "detected" and fault["passes_tokens_after"] is not None
    assert summary["wrong_counts"] == 0


def test_with_restart_the_station_comes_back_and_no_payload_is_lost(ring_factory):
    ring = ring_factory(stations=5, snapshot_interval=0.05, restart=True, restart_delay=0.2,
                        load=0.4)
    wait_for(lambda: status(ring)["snapshots"] >= 3)
    assert ring.request({"cmd": "inject", "kind": "kill", "station": 2})["ok"]
    wait_for(lambda: len(events(ring, "membership")) >= 2, timeout=15)
    bypass, insert = events(ring, "membership")[:2]
    assert (bypass["reason"], insert["reason"]) == ("bypass", "insert")
    assert insert["members"] == [0, 1, 2, 3, 4] and insert["epoch"] == 2
    wait_for(lambda: status(ring)["station_states"]["2"] == "alive")
    assert passes_again(ring)
    ring.request({"cmd": "drain"})
    wait_for(lambda: status(ring)["payloads_in_flight"] == 0, timeout=15)
    s = ring.request({"cmd": "summary", "final": True}, timeout=5.0)
    assert s["payloads_sent"] > 0 and s["payloads_delivered"] == s["payloads_sent"]
    assert (s["duplicates"], s["lost"], s["out_of_order"]) == (0, 0, 0)
    assert s["lost_with_station"] == {} and s["wrong_counts"] == 0


def test_ringemu_restart_brings_a_dead_station_back(ring_factory):
    ring = ring_factory(stations=4, snapshot_interval=0.05)
    wait_for(lambda: status(ring)["snapshots"] >= 2)
    assert ring.request({"cmd": "inject", "kind": "kill", "station": 1})["ok"]
    wait_for(lambda: status(ring)["bypassed"] == [1])
    refused = ring.request({"cmd": "restart", "station": 2})
    assert not refused["ok"] and "not dead" in refused["error"]
    assert ring.request({"cmd": "restart", "station": 1})["ok"]
    wait_for(lambda: status(ring)["members"] == [0, 1, 2, 3], timeout=15)
    assert [e["station"] for e in events(ring, "restart")] == [1]
    assert passes_again(ring)


def test_killing_the_active_monitor_elects_a_new_one_that_purges(ring_factory):
    ring = ring_factory(stations=5, snapshot_interval=0.05)
    wait_for(lambda: status(ring)["snapshots"] >= 3)
    assert ring.request({"cmd": "inject", "kind": "kill", "station": 0})["ok"]
    wait_for(lambda: events(ring, "elected"), timeout=15)
    (won,) = events(ring, "elected")
    assert won["station"] == 4  # the highest address wins
    wait_for(lambda: status(ring)["active_monitor"] == 4)
    assert passes_again(ring)
    assert ring.request({"cmd": "inject", "kind": "lose", "station": 2})["ok"]
    s = wait_for(lambda: (lambda s: s if len(s["faults"]) == 2 and s["faults"][1]["detected"]
                          else None)(ring.request({"cmd": "summary"}, timeout=5.0)))
    wait_for(lambda: status(ring)["alarms"] == [])
    assert [p["station"] for p in events(ring, "purge_done")][-1] == 4
    assert s["false_alarms"] == 0 and s["wrong_counts"] == 0
    both = ring.request({"cmd": "inject", "kind": "lose", "station": 1, "active_monitor": True})
    assert not both["ok"] and "not both" in both["error"]
    aimed = ring.request({"cmd": "inject", "kind": "kill", "active_monitor": True})
    assert aimed["ok"] and aimed["station"] == 4, "aimed at the active monitor of the moment"
    wait_for(lambda: len(events(ring, "elected")) == 2, timeout=15)
    assert events(ring, "elected")[-1]["station"] == 3


def test_rollback_recovers_a_lost_token(ring_factory):
    ring = ring_factory(stations=5, snapshot_interval=0.05, recovery="rollback", load=0.3)
    wait_for(lambda: status(ring)["snapshots"] >= 5)
    assert ring.request({"cmd": "inject", "kind": "lose", "station": 3})["ok"]
    wait_for(lambda: events(ring, "rollback_done"), timeout=10)
    (rb,) = events(ring, "rollback")[:1]
    (done,) = events(ring, "rollback_done")[:1]
    assert done["snapshot"] == rb["snapshot"] and done["epoch"] == rb["epoch"]
    wait_for(lambda: status(ring)["alarms"] == [])
    assert passes_again(ring)
    ring.request({"cmd": "drain"})
    wait_for(lambda: status(ring)["payloads_in_flight"] == 0, timeout=15)
    s = ring.request({"cmd": "summary", "final": True}, timeout=5.0)
    assert s["faults"][0]["outcome"] == "detected" and s["rollbacks"] >= 1
    assert (s["duplicates"], s["lost"], s["out_of_order"], s["wrong_counts"]) == (0, 0, 0, 0)
    assert s["valid"] is True
