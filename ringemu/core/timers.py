"""The timers a station keeps, scaled to the ring's rotation (802.5's, scaled down).

802.5 sizes its timers for 4/16 Mbit/s copper (``../shared/notes/token-ring-802.5.md``); a ring
of processes turns in microseconds (simulated) or fractions of a millisecond (live), so each
timer here is a multiple of the measured rotation with a floor, and the shell sets them again
when the rotation it measures changes:

======================= ========= ==================================================================
timer                   802.5     here
======================= ========= ==================================================================
valid transmission      TVX 10 ms the active monitor suspects a lost token after ``tvx_rotations``
                                  rotations without one (a suspicion starts a snapshot; it never
                                  purges by itself)
no token                TNT       a standby monitor that sees no token, frame or purge for
                                  ``tnt_rotations`` rotations claims the active monitor's role
claim retry             (20 ms)   a claiming station sends its claim again after this
too soon                (none)    a token unit that comes after less than 0.6 of the station's
                                  usual gap (the tenth percentile of its own recent gaps), twice
                                  within 2.5 rotations, is suspicious: with a duplicate every
                                  station sees two units a rotation, so one gap of each pair is at
                                  most half a rotation, every rotation; with one token a gap that
                                  short is rare even when a loaded machine makes the mean rotation
                                  many times the usual one (a mean-based bound suspects a healthy
                                  ring there)
======================= ========= ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

TVX_ROTATIONS = 4.0
TNT_ROTATIONS = 20.0
SHORT_GAPS_WITHIN_ROTATIONS = 2.5
TNT_FLOOR_SHARE = 1300.0
"""A standby waits at least this many floors (2.6 s at a live ring's 2 ms: 802.5's own
T_GOOD_TOKEN): on a loaded machine one station can stall for a second or more, and a standby
that claimed then would start an election while the active monitor lives. Nothing fast
depends on it: a dead active monitor's dropped connection rebuilds the ring without it, and
that starts the election at once."""
CLAIM_RETRY_ROTATIONS = 4.0
SHORT_GAP_SHARE = 0.6
"""A gap under this share of the station's usual gap is short."""
GAP_DOWN, GAP_UP = 0.955, 1.005
"""Steps of the multiplicative tracker of a station's usual gap: a gap below the estimate
lowers it by 4.5 %, one above raises it by 0.5 %, so it settles where one gap in ten is
below it (0.1 x 4.5 = 0.9 x 0.5)."""


@dataclass(frozen=True, slots=True)
class StationTimers:
    valid_transmission: float
    no_token: float
    claim_retry: float
    short_gaps_within: float
    """A short gap is suspected when another came within this time before it (a duplicate
    makes one every rotation); 0 turns the too-soon check off."""

    @classmethod
    def for_rotation(cls, rotation: float, floor: float = 0.0,
                     tvx_scale: float = 1.0) -> StationTimers:
        """Timers for a ring that turns in ``rotation`` seconds; ``floor`` is the least time
        any waiting timer may be (a live ring's scheduling noise); ``tvx_scale`` stretches the
        valid-transmission timer (the supervisor's back-off after groundless suspicions)."""
        return cls(
            valid_transmission=tvx_scale * max(floor, TVX_ROTATIONS * rotation),
            no_token=max(TNT_FLOOR_SHARE * floor, TNT_ROTATIONS * rotation),
            claim_retry=max(floor, CLAIM_RETRY_ROTATIONS * rotation),
            short_gaps_within=SHORT_GAPS_WITHIN_ROTATIONS * rotation,
        )

    def tick(self, active_monitor: bool) -> float:
        """How often a shell with no timer wheel should wake the station when nothing arrives."""
        return (self.valid_transmission if active_monitor else self.claim_retry) / 2
