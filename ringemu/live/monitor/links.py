"""The monitor's hold on the ring's links: live capture taps and link impairments.

Mixed into ``MonitorProcess`` (``ringemu.live.monitor.process``), whose stations, commands
and supervisor it uses: a capture reader's lease turns the stations' taps on and off, and
``ringemu link`` changes what a link does, with the station timers rescaled at once (the hop
rate would show the change only a few windows later).
"""

from __future__ import annotations

from ringemu.core.impairments import Impairment
from ringemu.live import protocol as p
from ringemu.live.monitor.stations import ProcState


class LinkControl:
    """Taps and impairments; see the module docstring."""

    def sync_taps(self, now: float) -> None:
        """Turn each live station's tap on or off as the capture readers' leases want."""
        self.taps.expire(now)
        for st in self.stations:
            if st.state is not ProcState.ALIVE or st.tap_endpoint is None:
                continue
            want = self.taps.wants(st.index)
            if want != st.tapping and self.command(st, p.Tap(want)):
                st.tapping = want

    def capture_status(self) -> dict:
        """The ``capture`` key of ``status``: readers, taps on, copies offered and dropped."""
        return {"readers": len(self.taps.leases),
                "tapping": [s.index for s in self.stations if s.tapping],
                "copies": sum(s.tap_counter("tapped") for s in self.stations),
                "dropped": sum(s.tap_counter("tap_dropped") for s in self.stations)}
    def impair(self, k: int | None, imp: Impairment | None) -> str | None:
        """Impair link ``k`` (every link when None) with ``imp`` (None: clear) from now on;
        the reason when it cannot be."""
        if not self.running_ring():
            return "ring is not up yet"
        if k is not None:
            st = self.stations.get(k)
            if st is None:
                return f"no link {k} (links are named by their sending station, " \
                       f"0..{len(self.stations) - 1})"
            if st.state in (ProcState.DEAD, ProcState.EXITED):
                return f"station {k} is {st.state}: its link is gone"
        targets = list(self.stations) if k is None else [self.stations[k]]
        wire = p.Impair(None if imp is None or not imp.active else imp.to_json())
        before = self._link_trips()
        for st in targets:
            self.link_settings[st.index] = imp or Impairment()
            self.command(st, wire)  # a dead one gets it when it is started again (hello)
        self.history.impairment(self.now(), k, imp)
        rotation = self.supervisor.rotation
        self.rotations.clear()
        self.stations.forget_rates()
        if rotation is not None:  # rescale the timers now, not when the hop rate shows it
            self.carry_out(self.supervisor.measured_rotation(
                max(rotation + self._link_trips() - before, rotation / 10)))
        return None

    def _link_trips(self) -> float:
        """What the members' links add to a rotation, by their impairments."""
        return sum(self.link_settings[m].trip() for m in self.supervisor.ring.members)
