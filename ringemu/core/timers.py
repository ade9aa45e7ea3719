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
too soon                (none)    a second token or frame within a fraction of a rotation of the
                                  one before is suspicious (a duplicate)
======================= ========= ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

TVX_ROTATIONS = 4.0
TNT_ROTATIONS = 20.0
CLAIM_RETRY_ROTATIONS = 4.0
TOO_SOON_SHARE = 1 / 3


@dataclass(frozen=True, slots=True)
class StationTimers:
    valid_transmission: float
    no_token: float
    claim_retry: float
    too_soon: float
    """0 turns the too-soon check off."""

    @classmethod
    def for_rotation(cls, rotation: float, floor: float = 0.0,
                     spread: float = 1.0) -> StationTimers:
        """Timers for a ring that turns in ``rotation`` seconds; ``floor`` is the least time
        any of them may be (a live ring's scheduling noise). ``spread`` says how much faster
        than ``rotation`` (a mean) one rotation may come: on a loaded machine rotations range
        widely about their mean, and a token that comes round in a third of the mean is no
        sign of a duplicate, so the too-soon gap is divided by it."""
        return cls(
            valid_transmission=max(floor, TVX_ROTATIONS * rotation),
            no_token=max(10 * floor, TNT_ROTATIONS * rotation),
            claim_retry=max(floor, CLAIM_RETRY_ROTATIONS * rotation),
            too_soon=TOO_SOON_SHARE * rotation / spread,
        )

    def tick(self, active_monitor: bool) -> float:
        """How often a shell with no timer wheel should wake the station when nothing arrives."""
        return (self.valid_transmission if active_monitor else self.claim_retry) / 2
